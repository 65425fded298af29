"""SetFit few-shot on a tiny random encoder: it trains, predicts the examples' labels, reports
progress and stops when cancelled; too few examples per label fall back to the frozen head."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lmdemo.tasks.classify import FewShotClassifier, TrainingCancelled
from lmdemo.tasks.dataset import LabelledTexts
from lmdemo.tasks.service import ClassifyService
from lmdemo.tasks.setfit_few_shot import SetFitClassifier, train_setfit, wants_setfit

FRUIT = ["apple pie", "ripe banana", "fresh cherry", "green grape", "sweet melon", "apple juice"]
CARS = ["red car engine", "fast truck", "old bus wheels", "car tyre", "truck engine", "bus driver"]
TEXTS, LABELS = FRUIT + CARS, ["fruit"] * 6 + ["vehicle"] * 6


@pytest.fixture
def encoder(tiny_bert_dir: Path):
    from sentence_transformers import SentenceTransformer, models

    body = models.Transformer(str(tiny_bert_dir), max_seq_length=32)
    return SentenceTransformer(modules=[body, models.Pooling(body.get_word_embedding_dimension())], device="cpu")


def test_setfit_trains_a_copy_of_the_encoder_and_fits_the_examples(encoder) -> None:
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    seen: list[tuple[float, str]] = []
    classifier = train_setfit(encoder, TEXTS, LABELS, lambda f, m: seen.append((f, m)), steps=30)
    assert isinstance(classifier, SetFitClassifier) and classifier.classes == ["fruit", "vehicle"]
    predictions = classifier.predict(None, TEXTS)
    assert sum(p.label == gold for p, gold in zip(predictions, LABELS)) >= 10
    assert all(abs(sum(p.scores.values()) - 1) < 1e-5 for p in predictions)
    assert any("contrastive step 30/30" in m for _, m in seen) and seen[-1][0] == 1.0
    assert all((encoder.state_dict()[k] == v).all() for k, v in before.items()), "the shared encoder is untouched"


def test_setfit_stops_when_cancelled(encoder) -> None:
    cancel = threading.Event()
    steps: list[str] = []

    def progress(fraction: float, message: str) -> None:
        steps.append(message)
        if "step 2/" in message:
            cancel.set()

    with pytest.raises(TrainingCancelled):
        train_setfit(encoder, TEXTS, LABELS, progress, cancel, steps=200)
    assert len([m for m in steps if "contrastive step" in m]) <= 3


def test_setfit_stops_contrastive_training_at_its_time_budget_and_still_fits_the_head(encoder) -> None:
    seen: list[str] = []
    classifier = train_setfit(encoder, TEXTS, LABELS, lambda f, m: seen.append(m), steps=200, budget_seconds=0.0)
    assert classifier.steps == 1, "a spent budget ends training after the step that spent it"
    assert any("stopped after 1 of 200 steps" in m for m in seen)
    predictions = classifier.predict(None, TEXTS)
    assert len(predictions) == len(TEXTS) and classifier.classes == ["fruit", "vehicle"]
    assert all(abs(sum(p.scores.values()) - 1) < 1e-5 for p in predictions)
    full = train_setfit(encoder, TEXTS, LABELS, steps=5)
    assert full.steps == 5, "with time to spare every asked step runs"


def test_the_service_picks_setfit_only_with_enough_examples_and_closing_cancels(encoder) -> None:
    class Embedder:
        def embed(self, texts, progress=None):
            return encoder.encode(list(texts), normalize_embeddings=True)

        def coverage(self, texts):
            from lmdemo.models.coverage import coverage

            return coverage(encoder.tokenizer, texts)

        def name(self) -> str:
            return "tiny"

    service = ClassifyService(Embedder(), None, None, None, encoder_model=lambda: encoder)  # type: ignore[arg-type]
    assert wants_setfit(LABELS) and not wants_setfit(["a"] * 3 + ["b"] * 8)
    few = service.train_few_shot(LabelledTexts(FRUIT[:3] + CARS[:3], ["fruit"] * 3 + ["vehicle"] * 3))
    assert isinstance(few, FewShotClassifier)
    stream = service.few_shot_stream(LabelledTexts(TEXTS, LABELS))
    first = next(stream)
    assert first.model is None and first.fraction < 1
    started = threading.active_count()
    stream.close()  # Cancel in the tab
    assert not any(t.name == "lmdemo-setfit" for t in threading.enumerate()), (started, threading.enumerate())


def test_setfit_cuts_long_texts_in_its_own_copy_only(encoder) -> None:
    """Pairs of long texts are what makes SetFit slow: its copy reads at most MAX_TOKENS; the shared encoder keeps its length."""
    from lmdemo.tasks.setfit_few_shot import MAX_TOKENS

    encoder.max_seq_length = 4 * MAX_TOKENS
    classifier = train_setfit(encoder, TEXTS, LABELS, steps=2)
    assert classifier.model.model_body.max_seq_length == MAX_TOKENS
    assert encoder.max_seq_length == 4 * MAX_TOKENS
