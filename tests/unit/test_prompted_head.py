"""Few-shot with the chat model's reading of each example: the head learns from the chat model's
states, in the prompt the user's aspect names; a switched chat model or Cancel is refused; the
service picks it only when the user says what the labels describe and the chat model runs here."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from lmdemo.errors import UserError
from lmdemo.models.backend import LocalChatBackend, PromptStates
from lmdemo.models.manager import ModelManager
from lmdemo.models.types import BatchingConfig
from lmdemo.settings import Settings
from lmdemo.tasks.classify import FewShotClassifier, TrainingCancelled
from lmdemo.tasks.dataset import LabelledTexts
from lmdemo.tasks.prompted_head import BATCH, PromptedHeadClassifier, guess_aspect, prompt, train_prompted_head
from lmdemo.tasks.service import ClassifyService

GOOD = ["a good film", "good acting", "really good", "so good", "good fun", "good story", "good cast", "good end"]
BAD = ["a bad film", "bad acting", "really bad", "so bad", "bad fun", "bad story", "bad cast", "bad end"]
TEXTS, LABELS = GOOD + BAD, ["positive"] * 8 + ["negative"] * 8


def noise(texts: Sequence[str]) -> np.ndarray:
    """An encoder that cannot tell the labels apart."""
    rng = np.random.default_rng(len(texts))
    return rng.normal(size=(len(texts), 8))


class FakeChat:
    """States in which only the chat model's reading of 'good'/'bad' after the aspect's prompt tells the labels apart."""

    def __init__(self, name: str = "chat-a") -> None:
        self.name = name
        self.prompts: list[str] = []

    def __call__(self, prompts: Sequence[str]) -> tuple[str, np.ndarray]:
        self.prompts += prompts
        rows = [[p.count("good") - p.count("bad") if p.endswith("The sentiment of this text is") else 0.0,
                 len(p) % 3] for p in prompts]
        return self.name, np.array(rows, dtype=np.float32)


def test_the_head_learns_from_the_chat_models_reading_in_the_aspects_prompt() -> None:
    chat = FakeChat()
    seen: list[str] = []
    classifier = train_prompted_head(noise, chat, "sentiment", TEXTS, LABELS, progress=lambda f, m: seen.append(m))
    assert chat.prompts[0] == prompt("sentiment", GOOD[0]) == "Text: a good film\nThe sentiment of this text is"
    assert prompt("情感", "质量很好，\n非常满意。") == "文本：质量很好， 非常满意。\n这段文本的情感是"
    predictions = classifier.predict(noise, chat, ["good good show", "bad bad show", "the plot was good"])
    assert [p.label for p in predictions] == ["positive", "negative", "positive"]
    assert all(abs(sum(p.scores.values()) - 1) < 1e-6 for p in predictions)
    assert seen[-1] == f"the chat model read {len(TEXTS)}/{len(TEXTS)} examples"
    with pytest.raises(UserError, match="at most 40 characters"):
        train_prompted_head(noise, chat, "x" * 41, TEXTS, LABELS)


def test_a_switched_chat_model_or_cancel_is_refused() -> None:
    classifier = train_prompted_head(noise, FakeChat("chat-a"), "sentiment", TEXTS, LABELS)
    with pytest.raises(UserError, match="now chat-b, not chat-a.*again"):
        classifier.predict(noise, FakeChat("chat-b"), ["good"])
    cancel = threading.Event()
    reads: list[int] = []

    def once_then_cancel(prompts: Sequence[str]) -> tuple[str, np.ndarray]:
        reads.append(len(prompts))
        cancel.set()
        return FakeChat()(prompts)

    with pytest.raises(TrainingCancelled):
        train_prompted_head(noise, once_then_cancel, "sentiment", TEXTS * 2, LABELS * 2, cancel=cancel)
    assert reads == [BATCH]


class Embedder:
    encoder = "noise"

    def embed(self, texts: Sequence[str], progress=None) -> np.ndarray:
        return noise(texts)

    def coverage(self, texts: Sequence[str]):
        from lmdemo.models.coverage import Coverage

        return Coverage(characters=10, unknown=0)

    def name(self) -> str:
        return self.encoder


def test_the_service_reads_with_the_chat_model_only_when_told_the_aspect_and_the_chat_model_is_here() -> None:
    chat: dict[str, FakeChat | None] = {"states": FakeChat()}
    embedder = Embedder()
    service = ClassifyService(embedder, None, None, None, prompt_states=lambda: chat["states"])  # type: ignore[arg-type]
    data = LabelledTexts(TEXTS * 2, LABELS * 2)
    updates = list(service.few_shot_stream(data, "  sentiment "))
    assert isinstance(updates[-1].model, PromptedHeadClassifier) and updates[-1].fraction == 1.0
    assert "The sentiment of this text is" in updates[-1].message
    assert updates[-1].said(chinese=True) == "分类头已在编码器的向量和聊天模型读到“The sentiment of this text is …”时的状态上训练好"
    assert all(u.said(chinese=True) == u.message for u in updates[:-1]), "progress stays as it was said"
    assert any("read 16/32" in u.message for u in updates)
    assert [p.label for p in service.few_shot(updates[-1].model, ["good work", "bad work"])] == ["positive", "negative"]

    unnamed = LabelledTexts(data.texts, [{"positive": "kept", "negative": "dropped"}[label] for label in data.labels])
    assert isinstance(service.train_few_shot(unnamed), FewShotClassifier), "no aspect, none in the labels: the encoder alone"
    head = updates[-1].model
    embedder.encoder = "another encoder"
    with pytest.raises(UserError, match="now another encoder, not noise.*again"):
        service.few_shot(head, ["good work"])
    embedder.encoder = "noise"
    chat["states"] = None  # the chat model now runs remotely
    fallback = list(service.few_shot_stream(data, "sentiment"))[-1]
    assert isinstance(fallback.model, FewShotClassifier) and "“sentiment” is not used" in fallback.message
    assert fallback.said(chinese=True) == "分类头已在冻结的向量上训练好（没有用到“sentiment”：聊天模型不在本应用里运行）"
    with pytest.raises(UserError, match="train it again"):
        service.few_shot(head, ["good work"])


def test_sentiment_labels_say_what_they_describe_by_themselves() -> None:
    assert guess_aspect(["positive", "negative"], ["a good film"]) == "sentiment"
    assert guess_aspect([" Positive ", "NEGATIVE", "neutral"], ["a film"]) == "sentiment"
    assert guess_aspect(["正面", "负面"], ["质量很好，非常满意。"]) == "情感", "Chinese texts: a Chinese prompt"
    assert guess_aspect(["sport", "politics"], ["a match"]) == ""
    assert guess_aspect(["positive", "spam"], ["a film"]) == "", "every label must be a sentiment word"
    assert guess_aspect(["positive"] * 3, ["a film"]) == "", "one label is no classification"

    service = ClassifyService(Embedder(), None, None, None, prompt_states=lambda: FakeChat())  # type: ignore[arg-type]
    assert service.aspect_of(LabelledTexts(TEXTS, LABELS)) == ("sentiment", True)
    assert service.aspect_of(LabelledTexts(TEXTS, LABELS), " quality ") == ("quality", False), "typed wins, not a guess"
    update = list(service.few_shot_stream(LabelledTexts(TEXTS * 2, LABELS * 2)))[-1]
    assert isinstance(update.model, PromptedHeadClassifier), "untold, positive/negative examples are read as sentiment"
    assert "The sentiment of this text is" in update.message and "the labels are sentiment words" in update.message
    assert update.said(chinese=True).endswith("（标签是情感词；若不是情感，请说明标签描述的是什么）")
    assert [p.label for p in service.few_shot(update.model, ["good work", "bad work"])] == ["positive", "negative"]
    told = list(service.few_shot_stream(LabelledTexts(TEXTS * 2, LABELS * 2), "sentiment"))[-1]
    assert "sentiment words" not in told.message, "what the user said is not called a guess"


def test_transformers_reads_the_last_tokens_state_of_each_prompt(tiny_llama_dir: Path, tmp_path: Path) -> None:
    backend = LocalChatBackend(ModelManager(Settings(chat_model=str(tiny_llama_dir), device="cpu", cache_dir=tmp_path)),
                               BatchingConfig(kv_cache_tokens=4096))
    assert isinstance(backend, PromptStates)
    alone = backend.last_token_states(["Text: a good film\nThe sentiment of this text is"])
    rows = backend.last_token_states(["Text: a bad film\nThe sentiment of this text is",
                                      "Text: a good film\nThe sentiment of this text is"])
    hidden = backend._load().model.config.hidden_size
    assert alone.shape == (1, hidden) and rows.shape == (2, hidden) and rows.dtype == np.float32
    np.testing.assert_allclose(rows[1], alone[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(rows[0], rows[1])


def test_a_csv_is_read_by_the_chat_model_and_scored_on_rows_it_did_not_train_on(monkeypatch) -> None:
    import lmdemo.tasks.prompted_head as head_module
    import lmdemo.tasks.service as service_module

    fitted: list[int] = []
    fit = head_module._fit
    monkeypatch.setattr(head_module, "_fit", lambda rows, labels: (fitted.append(len(rows)), fit(rows, labels))[1])
    chat: dict[str, FakeChat | None] = {"states": FakeChat()}
    service = ClassifyService(Embedder(), None, None, None, prompt_states=lambda: chat["states"])  # type: ignore[arg-type]
    many = [f"{t} {i}" for i in range(4) for t in TEXTS]
    data = LabelledTexts(many, LABELS * 4)
    updates = list(service.chat_reading_stream(data, "sentiment"))
    head = updates[-1].model
    assert isinstance(head, PromptedHeadClassifier) and updates[-1].fraction == 1.0
    assert head.metrics["accuracy"] == 1.0 and head.metrics["support"] == 10, "15% of 64 rows, 5 per label"
    assert "head trained on 64 rows" in updates[-1].message and "scored on 10 of them held out" in updates[-1].message
    assert len(chat["states"].prompts) == 64, "every row read once, held out or not"
    assert fitted == [54, 64], "scored by a head that did not see the held-out rows; the kept head saw them all"
    assert [p.label for p in service.few_shot(head, ["good work", "bad work"])] == ["positive", "negative"]

    monkeypatch.setattr(service_module, "MAX_READ_ROWS", 20)
    sampled = FakeChat()
    chat["states"] = sampled
    rare = LabelledTexts(many + ["a neutral film"], LABELS * 4 + ["neutral"])
    sampled_head = list(service.chat_reading_stream(rare, "sentiment"))[-1].model
    assert sampled_head.metrics["support"] == 4 and sampled_head.classes == ["negative", "neutral", "positive"]
    assert len(sampled.prompts) == 21 and len(set(sampled.prompts)) == 21, "10 of each common label and the rare one"
    with pytest.raises(UserError, match="Say what the labels describe"):
        list(service.chat_reading_stream(LabelledTexts(many, ["kept"] * 32 + ["dropped"] * 32), "  "))
    guessed = list(service.chat_reading_stream(data))[-1]
    assert guessed.model.aspect == "sentiment", "positive/negative labels: read as their sentiment, untold"
    chat["states"] = None
    with pytest.raises(UserError, match="does not run in this app"):
        list(service.chat_reading_stream(data, "sentiment"))


def test_reading_a_csv_waits_for_a_reply_being_generated() -> None:
    from lmdemo.models.priority import Foreground

    foreground = Foreground()
    chat = FakeChat()
    read_at: list[float] = []

    def timed(prompts: Sequence[str]) -> tuple[str, np.ndarray]:
        read_at.append(time.monotonic())
        return chat(prompts)

    service = ClassifyService(Embedder(), None, None, None, prompt_states=lambda: timed,  # type: ignore[arg-type]
                              foreground=foreground)
    replying, ended = threading.Event(), []

    def reply() -> None:
        with foreground.active():
            replying.set()
            time.sleep(0.5)
            ended.append(time.monotonic())

    threading.Thread(target=reply).start()
    replying.wait()
    updates = list(service.chat_reading_stream(LabelledTexts(TEXTS * 2, LABELS * 2), "sentiment"))
    assert isinstance(updates[-1].model, PromptedHeadClassifier)
    assert read_at and ended and read_at[0] >= ended[0], "no row read while the reply was being generated"


def test_a_reply_that_never_ends_delays_the_reading_only_so_long(monkeypatch) -> None:
    import lmdemo.tasks.service as service_module
    from lmdemo.models.priority import Foreground

    monkeypatch.setattr(service_module, "PATIENCE", 0.2)
    monkeypatch.setattr(service_module, "MAX_READ_WAIT", 0.3)
    foreground, chat, read_at = Foreground(), FakeChat(), []

    def timed(prompts: Sequence[str]) -> tuple[str, np.ndarray]:
        read_at.append(time.monotonic())
        return chat(prompts)

    service = ClassifyService(Embedder(), None, None, None, prompt_states=lambda: timed,  # type: ignore[arg-type]
                              foreground=foreground)
    with foreground.active():  # a reply being generated the whole time
        started = time.monotonic()
        list(service.chat_reading_stream(LabelledTexts(TEXTS * 4, LABELS * 4), "sentiment"))
    waits = [b - a for a, b in zip([started] + read_at, read_at)]
    assert len(read_at) == 4 and waits[0] >= 0.2 and waits[1] >= 0.2, "the first batches wait for the reply"
    assert waits[2] < 0.15 and waits[3] < 0.15, "then the reading goes on: 0.3 s of waiting in all at most"
