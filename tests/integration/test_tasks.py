"""Playground services on the packaged encoder and chat model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lmdemo.services import build_services
from lmdemo.settings import Settings
from lmdemo.tasks.classify import parse_labels
from lmdemo.tasks.dataset import LabelledTexts
from lmdemo.tasks.summarize import abstractive
from tests.conftest import ROOT

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
