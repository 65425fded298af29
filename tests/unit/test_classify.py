"""Classification: labels, splits, metrics, CSV checks, few-shot head, fine-tuning a tiny BERT."""

from __future__ import annotations

import io
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lmdemo.errors import UserError
from lmdemo.models.loading import load_sequence_classifier
from lmdemo.tasks.classify import (
    FewShotClassifier,
    TrainConfig,
    TrainingCancelled,
    evaluate,
    fine_tune,
    parse_labels,
    stratified_split,
    zero_shot,
)
from lmdemo.tasks.dataset import DatasetError, read_csv

VOCAB = ["fruit", "apple", "banana", "car", "truck", "engine", "sweet", "wheel"]


def bag_of_words(texts):
    """A transparent stand-in for the encoder: normalised word counts over a tiny vocabulary."""
    rows = np.array([[t.lower().count(w) for w in VOCAB] for t in texts], dtype=np.float32) + 1e-3
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_parse_labels_forms() -> None:
    assert [lab.name for lab in parse_labels("sport, politics ,tech, sport")] == ["sport", "politics", "tech"]
    labels = parse_labels("fruit: apples and bananas\nvehicle: cars and trucks")
    assert labels[0].description == "apples and bananas"
    assert labels[1].prompt() == "vehicle: cars and trucks"
    with pytest.raises(UserError, match="two labels"):
        parse_labels("only")


def test_zero_shot_picks_the_closest_description() -> None:
    labels = parse_labels("fruit: apple banana fruit\nvehicle: car truck engine")
    predictions = zero_shot(bag_of_words, ["a sweet apple", "the truck engine"], labels)
    assert [p.label for p in predictions] == ["fruit", "vehicle"]
    for p in predictions:
        assert abs(sum(p.scores.values()) - 1.0) < 1e-6


def test_few_shot_head_learns_from_examples() -> None:
    texts = ["apple", "banana fruit", "sweet apple", "car", "truck engine", "car wheel"]
    labels = ["fruit"] * 3 + ["vehicle"] * 3
    head = FewShotClassifier.train(bag_of_words, texts, labels)
    assert [p.label for p in head.predict(bag_of_words, ["banana", "engine wheel"])] == ["fruit", "vehicle"]


def test_stratified_split_keeps_every_class_on_both_sides() -> None:
    labels = ["a"] * 10 + ["b"] * 4 + ["c"] * 2
    train, held = stratified_split(labels, 0.25)
    assert sorted(train + held) == list(range(16)) and not set(train) & set(held)
    assert {labels[i] for i in held} == {"a", "b", "c"} == {labels[i] for i in train}


def test_evaluate_reports_accuracy_f1_and_confusion() -> None:
    metrics = evaluate(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "b"])
    assert metrics["accuracy"] == 0.75
    assert metrics["confusion"] == [[1, 1], [0, 2]]
    assert metrics["macro_f1"] == pytest.approx((2 / 3 + 0.8) / 2)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"sentence,category\nhello,x\n", "needs columns"),
        (b"text,label\nhello,x\nworld,x\n", "only one class"),
        ("text,label\ncaf\xe9,x\n".encode("latin-1"), "not UTF-8"),
        (b"text,label\nhello,\nworld,y\n", "no label"),
    ],
)
def test_bad_csvs_get_clear_messages(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "data.csv"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match=message):
        read_csv(path)


def test_too_many_rows_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.csv"
    path.write_text("text,label\n" + "".join(f"row {i},{i % 2}\n" for i in range(200)))
    with pytest.raises(DatasetError, match="more than 100 rows"):
        read_csv(path, max_rows=100)
    assert len(read_csv(path).texts) == 200


def _toy() -> tuple[list[str], list[str]]:
    fruit = ["apple banana", "sweet fruit apple", "banana fruit", "fruit apple sweet", "apple apple"]
    vehicle = ["car truck", "truck engine wheel", "engine car", "wheel truck car", "car car"]
    texts = [t for pair in zip(fruit * 3, vehicle * 3) for t in pair]
    labels = ["fruit", "vehicle"] * 15
    return texts, labels


def _loader(folder: Path, tmp_path: Path, quantization: str = "none"):
    return lambda classes: load_sequence_classifier(
        str(folder), labels=classes, device="cpu", quantization=quantization, cache_dir=tmp_path
    )


def test_fine_tuning_a_tiny_bert_learns_the_toy_task(tiny_bert_dir: Path, tmp_path: Path) -> None:
    texts, labels = _toy()
    seen: list[float] = []
    model = fine_tune(
        _loader(tiny_bert_dir, tmp_path), texts, labels,
        TrainConfig(epochs=8, batch_size=8, learning_rate=1e-3, holdout=0.2, patience=0),
        progress=lambda fraction, message: seen.append(fraction),
    )
    assert model.metrics["accuracy"] == 1.0 and model.metrics["support"] == 6
    assert [p.label for p in model.predict(["banana apple", "truck wheel"])] == ["fruit", "vehicle"]
    assert seen == sorted(seen) and seen[-1] == 1.0

    archive = zipfile.ZipFile(io.BytesIO(model.export_zip()))
    names = set(archive.namelist())
    assert {"model.safetensors", "config.json", "tokenizer.json", "lmdemo_metrics.json"} <= names
    assert not any(n.endswith(".bin") for n in names)
    folder = tmp_path / "exported"
    archive.extractall(folder)
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    reloaded = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    assert reloaded.config.id2label == {0: "fruit", 1: "vehicle"}
    probes = ["banana apple", "truck wheel", "apple pear", "wheel engine"]
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.inference_mode():
        logits = reloaded(**tokenizer(probes, return_tensors="pt", padding=True)).logits
    assert [reloaded.config.id2label[int(i)] for i in logits.argmax(-1)] == [p.label for p in model.predict(probes)], \
        "the exported model predicts what the trained one does"


def test_training_stops_once_the_held_out_score_stops_improving_and_keeps_the_best_epoch(
    tiny_bert_dir: Path, tmp_path: Path
) -> None:
    texts, labels = _toy()
    messages: list[str] = []
    model = fine_tune(
        _loader(tiny_bert_dir, tmp_path), texts, labels,
        TrainConfig(epochs=40, batch_size=8, learning_rate=1e-3, holdout=0.2, patience=2),
        progress=lambda fraction, message: messages.append(message),
    )
    scores = [float(m.rsplit(" ", 1)[1]) for m in messages if "held-out macro-F1" in m]
    assert 3 <= len(scores) < 40 and any(m.startswith("stopping early") for m in messages)
    best = scores.index(max(scores))
    assert len(scores) - 1 - best == 2, "two epochs without a better score, then stop"
    assert model.metrics["macro_f1"] == pytest.approx(max(scores), abs=1e-3), "the best epoch's weights are kept"
    assert model.max_length <= 32, "sized from the data (the toy texts are a few tokens long), not the cap"


@pytest.mark.parametrize("precision, computed", [("bfloat16", "torch.bfloat16"), ("float32", "torch.float32")])
def test_fine_tuning_computes_in_the_precision_asked_and_keeps_fp32_weights(
    tiny_bert_dir: Path, tmp_path: Path, precision: str, computed: str
) -> None:
    texts, labels = _toy()
    seen: set[str] = set()

    def load(classes: list[str]):
        loaded = _loader(tiny_bert_dir, tmp_path)(classes)
        loaded.model.classifier.register_forward_hook(
            lambda module, inputs, output: seen.add(str(output.dtype)) if module.training else None)
        return loaded

    model = fine_tune(load, texts, labels, TrainConfig(epochs=8, batch_size=8, learning_rate=1e-3, holdout=0.2,
                                                       patience=0, precision=precision))
    assert seen == {computed}
    assert {str(p.dtype) for p in model.model.parameters()} == {"torch.float32"}
    assert model.metrics["accuracy"] == 1.0


def test_cancel_stops_training(tiny_bert_dir: Path, tmp_path: Path) -> None:
    texts, labels = _toy()
    cancel = threading.Event()

    def progress(fraction: float, message: str) -> None:
        if fraction > 0.1:
            cancel.set()

    with pytest.raises(TrainingCancelled):
        fine_tune(_loader(tiny_bert_dir, tmp_path), texts, labels, TrainConfig(epochs=50, batch_size=4, patience=0),
                  progress=progress, cancel=cancel)


def test_fine_tuning_on_an_8bit_base_trains_the_full_precision_head(tiny_bert_dir: Path, tmp_path: Path) -> None:
    texts, labels = _toy()
    model = fine_tune(_loader(tiny_bert_dir, tmp_path, "8bit"), texts, labels,
                      TrainConfig(epochs=30, batch_size=8, learning_rate=1e-2, holdout=0.2, patience=0))
    import torch

    assert type(model.model.classifier) is torch.nn.Linear
    assert model.metrics["accuracy"] == 1.0
    assert [p.label for p in model.predict(["banana apple", "truck wheel"])] == ["fruit", "vehicle"]
    names = set(zipfile.ZipFile(io.BytesIO(model.export_zip())).namelist())
    assert {"model.safetensors", "config.json", "lmdemo_metrics.json"} <= names


def test_parse_chat_label_takes_the_first_named_label() -> None:
    from lmdemo.tasks.classify import parse_chat_label

    labels = parse_labels("sport, business")
    assert parse_chat_label(" Business, not sport.", labels).scores == {"sport": 0.0, "business": 1.0}
    unsure = parse_chat_label("I cannot tell.", labels)
    assert unsure.scores == {"sport": 0.5, "business": 0.5}


def test_nli_model_drives_zero_shot_when_configured(tiny_bert_dir: Path, tmp_path: Path) -> None:
    from lmdemo.models.loading import ModelLoadError, load_nli
    from lmdemo.tasks.classify import nli_zero_shot

    nli_dir = tmp_path / "nli"
    load_sequence_classifier(
        str(tiny_bert_dir), labels=["entailment", "neutral", "contradiction"], device="cpu", cache_dir=tmp_path
    ).model.save_pretrained(nli_dir)
    (nli_dir / "tokenizer.json").write_bytes((tiny_bert_dir / "tokenizer.json").read_bytes())
    for name in ("tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (tiny_bert_dir / name).exists():
            (nli_dir / name).write_bytes((tiny_bert_dir / name).read_bytes())
    loaded = load_nli(str(nli_dir), device="cpu", cache_dir=tmp_path)
    assert loaded.report.role == "nli"
    predictions = nli_zero_shot(loaded.model, ["apple banana", "car truck"], parse_labels("fruit, vehicle, other"))
    for p in predictions:
        assert set(p.scores) == {"fruit", "vehicle", "other"}
        assert abs(sum(p.scores.values()) - 1.0) < 1e-5
    with pytest.raises(ModelLoadError, match="not an NLI model"):
        load_nli(str(tiny_bert_dir), device="cpu", cache_dir=tmp_path)


def test_long_texts_train_at_the_cap_short_ones_at_their_length(tiny_bert_dir: Path) -> None:
    from transformers import AutoTokenizer

    from lmdemo.tasks.classify import length_for

    tokenizer = AutoTokenizer.from_pretrained(tiny_bert_dir)
    assert length_for(tokenizer, ["the station measures the lake " * 80] * 20) == 128
    assert length_for(tokenizer, ["a short review"] * 20) == 16
