"""Classification for the Playground tab, the /classify endpoint and the classify CLI.

Holds no user data: trained heads and models are returned to the caller, which keeps
them in the user's session.
"""

from __future__ import annotations

import queue
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from lmdemo.errors import UserError
from lmdemo.models.coverage import ENCODER_REMEDY, coverage, unreadable
from lmdemo.models.loading import load_sequence_classifier, resolve_device
from lmdemo.models.priority import PATIENCE, Foreground
from lmdemo.models.runner import model_task
from lmdemo.models.types import SamplingParams
from lmdemo.settings import Settings
from lmdemo.tasks.classify import (
    FewShotClassifier,
    Label,
    Prediction,
    Progress,
    TrainConfig,
    TrainedClassifier,
    chat_prompt,
    fine_tune,
    nli_zero_shot,
    parse_chat_label,
    stratified_split,
    zero_shot,
)
from lmdemo.tasks.dataset import LabelledTexts
from lmdemo.tasks.ngram import NgramClassifier
from lmdemo.tasks.prompted_head import (
    PromptedHeadClassifier,
    States,
    clean_aspect,
    guess_aspect,
    prompt_ending,
    train_prompted_head,
)
from lmdemo.tasks.setfit_few_shot import train_setfit, wants_setfit
from lmdemo.tasks.summarize import abstractive, extractive
from lmdemo.text import clean_user_text
from lmdemo.words import is_chinese

if TYPE_CHECKING:
    import numpy as np

    from lmdemo.docqa.index import Embedder
    from lmdemo.models.backend import ChatBackend
    from lmdemo.models.manager import ModelManager
    from lmdemo.models.runner import ModelRunner

# What one GPU call may fine-tune: rows x epochs a GPU trains per second for a small BERT-style
# model at max length 128 (batch 16), after loading the base. Conservative, so jobs are refused
# rather than cut off by ZeroGPU.
TRAIN_ROWS_PER_SECOND = 100.0
TRAIN_START_SECONDS = 20.0
# Rows of a CSV the chat model reads for its head: ~70 a second for the 135M model on 2 CPU cores
MAX_READ_ROWS = 5000
MAX_READ_WAIT = 2 * PATIENCE  # seconds the reading steps aside for replies, in all


def sample_shots(data: LabelledTexts, shots: int, seed: int = 0) -> LabelledTexts:
    """Up to `shots` random examples of each label."""
    rng = random.Random(seed)
    texts, labels = [], []
    for label in data.classes:
        rows = [i for i, lab in enumerate(data.labels) if lab == label]
        for i in rng.sample(rows, min(shots, len(rows))):
            texts.append(data.texts[i])
            labels.append(label)
    return LabelledTexts(texts, labels)


def _fine_tune_seconds(max_seconds: float, texts: Sequence[str], labels: Sequence[str], config: dict[str, Any],
                       quantization: str) -> float:
    """GPU time of a fine-tuning job; refuses one that cannot fit a GPU call, saying how to shrink it."""
    rows, epochs = len(texts), int(config["epochs"])
    seconds = TRAIN_START_SECONDS + rows * epochs / TRAIN_ROWS_PER_SECOND
    if seconds > max_seconds:
        fits = int((max_seconds - TRAIN_START_SECONDS) * TRAIN_ROWS_PER_SECOND / epochs)
        raise UserError(
            f"Fine-tuning {rows:,} rows for {epochs} epoch(s) needs about {seconds:.0f} s of GPU time, more than the "
            f"{max_seconds:.0f} s one GPU call may use here. Use at most {fits:,} rows with {epochs} epoch(s), "
            "or fewer epochs."
        )
    return seconds


@model_task(_fine_tune_seconds)
def fine_tune_task(models: ModelManager, texts: list[str], labels: list[str], config: dict[str, Any],
                   quantization: str) -> Iterator[dict[str, Any]]:
    """Fine-tune the encoder in a thread of its own, yielding progress, then the model as zip bytes.

    Closing the stream (Cancel) stops training at the next step.
    """
    s = models.settings

    def load(classes: list[str]) -> Any:
        return load_sequence_classifier(
            s.encoder_model, labels=classes, device=s.device, quantization=quantization,  # type: ignore[arg-type]
            cache_dir=s.cache_dir, trust_remote_code=s.trust_remote_code,
        )

    train_config = TrainConfig(**config)
    if train_config.precision == "auto":  # the encoder's precision setting decides
        train_config = replace(train_config, precision=s.encoder_dtype)
    result = None
    for fraction, message, result in in_a_thread(
        lambda report, cancel: fine_tune(load, texts, labels, train_config, report, cancel, base=s.encoder_model),
        "lmdemo-finetune",
    ):
        if result is None:
            yield {"progress": fraction, "message": message}
    yield {"progress": 1.0, "message": "done", "model": result.export_zip()}


def in_a_thread(work: Callable[[Progress, threading.Event], Any], name: str) -> Iterator[tuple[float, str, Any]]:
    """Run `work(progress, cancel)` in a thread of its own: yield (fraction, message, None) for each
    progress report, then (1.0, "done", its result). Closing the iterator (Cancel) sets `cancel`,
    which the work checks at each step."""
    updates: queue.SimpleQueue = queue.SimpleQueue()
    cancel = threading.Event()
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = work(lambda f, m: updates.put((f, m)), cancel)
        except BaseException as error:  # raised to the caller below
            outcome["error"] = error
        updates.put(None)

    worker = threading.Thread(target=run, name=name, daemon=True)
    worker.start()
    try:
        while (update := updates.get()) is not None:
            yield update[0], update[1], None
    finally:
        cancel.set()
        worker.join(timeout=60)
    if "error" in outcome:
        raise outcome["error"]
    yield 1.0, "done", outcome["result"]


@dataclass(frozen=True)
class TrainingUpdate:
    """Fine-tuning progress; the last update carries the model and its zip (the download)."""

    fraction: float
    message: str
    model: Any = None  # a TrainedClassifier, or for few-shot a head or SetFit classifier
    archive: bytes = b""
    zh: str = ""  # the message in Chinese, written for the few-shot outcomes a page shows

    def said(self, chinese: bool) -> str:
        """The message in Chinese when asked for and written, else in English."""
        return self.zh if chinese and self.zh else self.message


class ClassifyService:
    """Zero-shot, few-shot and fine-tuned classification on the configured encoder.

    Zero-shot uses the NLI model named by `settings.zero_shot_model` when one is set,
    else encoder similarity; `zero_shot_chat` asks the chat model instead.
    """

    def __init__(self, embedder: Embedder, settings: Settings, chat: ChatBackend, runner: ModelRunner,
                 nli: Any = None, encoder_model: Callable[[], Any] | None = None,
                 prompt_states: Callable[[], States | None] | None = None,
                 foreground: Foreground | None = None) -> None:
        """`encoder_model` gives the local SentenceTransformer that SetFit copies (None: no SetFit);
        `prompt_states` the chat model's last-token states when it runs in this process (else None);
        `foreground` the replies being generated, which the chat model's reading of a CSV lets go first."""
        self._foreground = foreground
        self._encoder_model = encoder_model
        self._prompt_states = prompt_states or (lambda: None)
        self._embedder = embedder
        self._settings = settings
        self._chat = chat
        self._runner = runner
        self._nli = nli

    def _texts(self, texts: Sequence[str]) -> list[str]:
        cleaned = [clean_user_text(t).strip() for t in texts]
        if not cleaned or not all(cleaned):
            raise UserError("Type some text to classify.", "请输入要分类的文本。")
        return cleaned

    def _refuse_unread(self, texts: Sequence[str], tokenizer: Any = None, model: tuple[str, str] | None = None,
                       remedy: tuple[str, str] = ENCODER_REMEDY) -> None:
        """A clear refusal, in the text's language, instead of a confident answer from a model that
        cannot read the text (the encoder, or the model with `tokenizer`)."""
        read = self._embedder.coverage(texts) if tokenizer is None else coverage(tokenizer, texts)
        if read.poor:
            name = self._embedder.name()
            raise UserError(unreadable(model or (f"The encoder {name}", f"编码器 {name} "), read, remedy,
                                       chinese=is_chinese(" ".join(texts[:20]))))

    def zero_shot(self, texts: Sequence[str], labels: Sequence[Label]) -> list[Prediction]:
        texts = self._texts(texts)
        if self._nli is not None:
            nli = self._nli()
            self._refuse_unread(texts, nli.tokenizer, ("The zero-shot (NLI) model", "零样本（NLI）模型"),
                                ("Set a multilingual NLI model with --zero-shot-model, or use the n-gram baseline.",
                                 "请用 --zero-shot-model 设置多语言 NLI 模型，或使用 n-gram 基线。"))
            return nli_zero_shot(nli, texts, labels)
        self._refuse_unread(texts)
        return zero_shot(self._embedder.embed, texts, labels)

    def zero_shot_chat(self, texts: Sequence[str], labels: Sequence[Label]) -> list[Prediction]:
        params = SamplingParams(temperature=0.0, max_new_tokens=12, repetition_penalty=1.0)
        predictions = []
        for text in self._texts(texts):
            reply = "".join(chunk.text for chunk in self._chat.stream(chat_prompt(text, labels), params))
            predictions.append(parse_chat_label(reply, labels))
        return predictions

    def aspect_of(self, data: LabelledTexts, typed: str = "") -> tuple[str, bool]:
        """What the labels describe, and whether it was guessed: as the user typed it, else from the
        label names (sentiment words), else ("", False)."""
        told = clean_aspect(clean_user_text(typed))
        guessed = "" if told else guess_aspect(data.labels, data.texts)
        return told or guessed, bool(guessed)

    def few_shot_stream(self, data: LabelledTexts, aspect: str = "") -> Iterator[TrainingUpdate]:
        """Train a few-shot classifier; closing the stream cancels it.

        When the user says what the labels describe (`aspect`, e.g. "sentiment"), or the label names
        say it (`guess_aspect`), and the chat model runs here, a head on the encoder's embeddings and
        the chat model's reading of each example (`prompted_head`); else SetFit when every label has
        enough examples (and a local, unquantized encoder), else a head on frozen embeddings.

        When the encoder cannot read the examples, an n-gram classifier is trained on them instead:
        on zh-reviews at 16 per label it reaches 0.65 in a second, where SetFit on the English
        MiniLM reached 0.62 in four minutes (bench/tasks.py)."""
        texts, labels = self._texts(data.texts), list(data.labels)
        reading, guessed = self.aspect_of(LabelledTexts(texts, labels), aspect)
        aspect = "" if guessed else reading  # what the user typed, for the messages below
        read = self._embedder.coverage(texts)
        if read.poor:
            name = self._embedder.name()
            yield TrainingUpdate(1.0, f"n-gram classifier trained: the encoder {name} does not "
                                      f"know {read.share_unknown:.0%} of the examples' characters; a multilingual "
                                      "encoder from the Models tab would let SetFit use them"
                                      + (f" (“{aspect}” is not used)" if aspect else ""),
                                 NgramClassifier.train(texts, labels, holdout=0.0),
                                 zh=f"已训练 n-gram 分类器：编码器 {name} 不认识这些例子中 {read.share_unknown:.0%} 的"
                                    "字符；在“模型”页换一个多语言编码器，SetFit 才能用上它们"
                                    + (f"（没有用到“{aspect}”）" if aspect else ""))
            return
        states = self._prompt_states() if reading else None
        if states is not None:
            why = " (the labels are sentiment words; say what they describe to read them otherwise)" if guessed else ""
            why_zh = "（标签是情感词；若不是情感，请说明标签描述的是什么）" if guessed else ""
            for fraction, message, result in in_a_thread(
                lambda report, cancel: train_prompted_head(self._embedder.embed, states, reading, texts, labels,
                                                           self._embedder.name(), report, cancel),
                "lmdemo-prompted-head",
            ):
                yield TrainingUpdate(fraction, message if result is None else
                                     f"head trained on the encoder's embeddings and on how the chat model reads "
                                     f"“{prompt_ending(reading)}”{why}", result,
                                     zh="" if result is None else
                                     f"分类头已在编码器的向量和聊天模型读到“{prompt_ending(reading)}”时的状态上训练好{why_zh}")
            return
        unused = f" (“{aspect}” is not used: the chat model does not run in this app)" if aspect else ""
        unused_zh = f"（没有用到“{aspect}”：聊天模型不在本应用里运行）" if aspect else ""
        encoder = self._encoder_model() if self._encoder_model is not None and wants_setfit(labels) else None
        if encoder is None:
            yield TrainingUpdate(1.0, f"head trained on frozen embeddings{unused}",
                                 FewShotClassifier.train(self._embedder.embed, texts, labels),
                                 zh=f"分类头已在冻结的向量上训练好{unused_zh}")
            return
        for fraction, message, result in in_a_thread(
            lambda report, cancel: train_setfit(encoder, texts, labels, report, cancel), "lmdemo-setfit"
        ):
            yield TrainingUpdate(fraction, message if result is None else
                                 f"SetFit: encoder ({result.steps} contrastive steps) and head trained{unused}",
                                 result, zh="" if result is None else
                                 f"SetFit：编码器（{result.steps} 步对比训练）和分类头已训练好{unused_zh}")

    def chat_reading_stream(self, data: LabelledTexts, aspect: str = "") -> Iterator[TrainingUpdate]:
        """The few-shot head on the chat model's reading of a CSV's rows (`aspect`: what the labels
        describe, guessed from sentiment label names when blank), scored on the rows held
        out from a first fit (the split fine-tuning holds out), then refitted on all of them; closing
        the stream cancels it.

        Why beside fine-tuning: on movie snippets (2,000 rows) it reaches 0.870-0.876 where the
        fine-tuned encoder reaches 0.834 (bench/tasks.py); fine-tuning the chat model's top layers
        on its reading gained nothing over the head (0.85-0.87). About
        `MAX_READ_ROWS` rows are read (a sample with every label), so a big CSV takes minutes, not an hour.
        """
        states = self._prompt_states()
        if states is None:
            raise UserError("The chat model does not run in this app (remote, or one GPU call per reply), so it "
                            "cannot read the rows.", "聊天模型不在本应用里运行（远程，或每次回复一次 GPU 调用），读不了这些行。")
        aspect, _ = self.aspect_of(data, aspect)
        if not aspect:
            raise UserError("Say what the labels describe (e.g. sentiment or topic) for the chat model to read "
                            "the rows.", "请说明标签描述的是什么（例如 情感 或 主题），聊天模型才能读这些行。")
        texts, labels = self._texts(data.texts), list(data.labels)
        if len(texts) > MAX_READ_ROWS:  # a sample with every label in it
            rows, _ = stratified_split(labels, 1 - MAX_READ_ROWS / len(texts))
            texts, labels = [texts[i] for i in rows], [labels[i] for i in rows]
        self._refuse_unread(texts)
        _, held = stratified_split(labels, TrainConfig().holdout, TrainConfig().seed)
        foreground, waited = self._foreground, [0.0]

        def politely(prompts: Sequence[str]) -> tuple[str, np.ndarray]:
            """Read a batch once no reply is being generated (a 2,000-row CSV keeps the chat model busy
            ~30 s), waiting `MAX_READ_WAIT` seconds in all at most: a busy server must not stall it for hours."""
            if foreground is None:
                return states(prompts)
            started = time.monotonic()
            with foreground.step(PATIENCE if waited[0] < MAX_READ_WAIT else 0.0):
                waited[0] += time.monotonic() - started
                return states(prompts)

        for fraction, message, result in in_a_thread(
            lambda report, cancel: train_prompted_head(self._embedder.embed, politely, aspect, texts, labels,
                                                       self._embedder.name(), report, cancel, held),
            "lmdemo-chat-reading",
        ):
            scored = f" (scored on {len(held)} of them held out from a first fit)" if held else ""
            yield TrainingUpdate(fraction, message if result is None else
                                 f"head trained on {len(texts)} rows as the chat model reads "
                                 f"“{prompt_ending(aspect)}”{scored}", result)

    def train_few_shot(self, data: LabelledTexts, progress: Progress | None = None, aspect: str = "") -> Any:
        """The trained few-shot classifier (for batch use)."""
        update = None
        for update in self.few_shot_stream(data, aspect):
            if progress is not None:
                progress(update.fraction, update.message)
        return update.model

    def few_shot(self, head: Any, texts: Sequence[str]) -> list[Prediction]:
        texts = self._texts(texts)
        if isinstance(head, NgramClassifier):
            return head.predict(texts)
        self._refuse_unread(texts)
        if isinstance(head, PromptedHeadClassifier):
            states = self._prompt_states()
            if head.encoder != self._embedder.name():
                raise UserError(f"The encoder is now {self._embedder.name()}, not {head.encoder}, which embedded the "
                                "few-shot examples: train the few-shot classifier again.",
                                f"编码器现在是 {self._embedder.name()}，不是嵌入少样本例子的 {head.encoder}：请重新训练少样本分类器。")
            if states is None:
                raise UserError("This few-shot classifier needs the chat model it was trained with, which no "
                                "longer runs in this app: train it again.",
                                "这个少样本分类器需要训练它时的聊天模型，而那个模型已不在本应用里运行：请重新训练。")
            return head.predict(self._embedder.embed, states, texts)
        return head.predict(self._embedder.embed, texts)

    def fine_tuned(self, model: TrainedClassifier, texts: Sequence[str]) -> list[Prediction]:
        texts = self._texts(texts)
        base = model.base or "model"
        self._refuse_unread(texts, model.tokenizer, (f"The fine-tuned {base}", f"微调后的 {base} "),
                            ("Classify it with the n-gram baseline, or fine-tune a multilingual encoder.",
                             "请用 n-gram 基线分类，或微调一个多语言编码器。"))
        return model.predict(texts)

    def train_ngram(self, data: LabelledTexts) -> NgramClassifier:
        """The TF-IDF n-gram baseline on the same rows (seconds; any language), with held-out metrics."""
        if len(set(data.labels)) < 2:
            raise UserError("The n-gram baseline needs at least two labels.")
        return NgramClassifier.train(self._texts(data.texts), list(data.labels))

    def fine_tune_stream(
        self, data: LabelledTexts, config: TrainConfig = TrainConfig(), quantization: str = "none"
    ) -> Iterator[TrainingUpdate]:
        """Fine-tune the encoder as a classifier (a model task: on ZeroGPU, one GPU call); closing stops it.

        `quantization="8bit"` loads the base with bitsandbytes. The trained model arrives as zip
        bytes and is loaded where the encoders run.
        """
        texts = self._texts(data.texts)
        self._refuse_unread(texts)
        device = resolve_device(self._settings.encoder_placement)
        stream = self._runner.stream(fine_tune_task, texts, list(data.labels), asdict(config), quantization)
        try:
            for update in stream:
                if "model" in update:
                    model = TrainedClassifier.from_zip(update["model"], device)
                    yield TrainingUpdate(1.0, update["message"], model, update["model"])
                else:
                    yield TrainingUpdate(update["progress"], update["message"])
        finally:
            stream.close()

    def fine_tune(
        self,
        data: LabelledTexts,
        config: TrainConfig = TrainConfig(),
        progress: Progress | None = None,
        quantization: str = "none",
    ) -> TrainedClassifier:
        """The finished fine-tuned model (for batch use)."""
        model = None
        for update in self.fine_tune_stream(data, config, quantization):
            if progress is not None:
                progress(update.fraction, update.message)
            model = update.model or model
        if model is None:
            raise UserError("Training ended without a model.")
        return model


class SummarizeService:
    """Extractive and abstractive summaries of pasted or uploaded text."""

    def __init__(self, chat: ChatBackend) -> None:
        self._chat = chat

    def summarize(
        self, text: str, mode: str = "extractive", n_sentences: int = 3, progress: Progress | None = None
    ) -> Iterator[str]:
        """Stream the summary (extractive arrives at once)."""
        n_sentences = max(1, min(int(n_sentences), 20))
        if mode == "extractive":
            yield extractive(text, n_sentences)
        elif mode == "abstractive":
            yield from abstractive(self._chat, text, n_sentences, progress)
        else:
            raise UserError("mode must be extractive or abstractive")

    def summary(self, text: str, mode: str = "extractive", n_sentences: int = 3) -> str:
        """The finished summary (for batch use)."""
        result = ""
        for result in self.summarize(text, mode, n_sentences):  # noqa: B007 - the last update is the summary
            pass
        return result
