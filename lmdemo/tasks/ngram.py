"""The classic baseline: TF-IDF over word and character n-grams, then logistic regression.

It trains in seconds on a CPU, works for any language (Chinese words come from jieba, characters
need no tokenizer at all), and is the yardstick the BERT-style results are shown beside. On
zh-reviews it reached 0.834 against 0.51 for the English encoder's zero- and few-shot modes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lmdemo.tasks.classify import Prediction, _predictions, evaluate, stratified_split
from lmdemo.words import segmented


def _words(text: str) -> str:
    return segmented(text).lower()


def _pipeline() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline, make_union

    return make_pipeline(
        make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, preprocessor=_words, token_pattern=r"(?u)\b\w+\b"),
            TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True),
        ),
        LogisticRegression(max_iter=2000, C=10.0),
    )


@dataclass
class NgramClassifier:
    """A fitted n-gram pipeline, its classes and its held-out metrics (like a fine-tuned model's)."""

    pipeline: Any
    classes: list[str]
    metrics: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], holdout: float = 0.15,
              seed: int = 0) -> NgramClassifier:
        """Score on a held-out split (none when `holdout` is 0), then refit on every row (what is kept
        is the better model)."""
        train_rows, held_rows = stratified_split(labels, holdout, seed) if holdout else ([], [])
        classes = sorted(set(labels))
        metrics: dict[str, Any] = {}
        if held_rows:
            scored = _pipeline().fit([texts[i] for i in train_rows], [labels[i] for i in train_rows])
            metrics = evaluate([labels[i] for i in held_rows], list(scored.predict([texts[i] for i in held_rows])),
                               classes)
        return cls(_pipeline().fit(list(texts), list(labels)), classes, metrics)

    def predict(self, texts: Sequence[str]) -> list[Prediction]:
        probabilities = self.pipeline.predict_proba(list(texts))
        return _predictions(probabilities, [str(c) for c in self.pipeline.classes_])
