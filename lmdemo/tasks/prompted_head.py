"""Few-shot classification that also asks the chat model how it reads each text.

The user says what the labels describe ("sentiment", "topic"). Each text is put in a prompt ending
"The sentiment of this text is", the chat model reads it, and its hidden state at that last token
(GPT-1's classification features) is set beside the encoder's embedding; a logistic-regression
head is fitted on both. Why: all-MiniLM-L6-v2's embeddings barely separate sentiment (movie
snippets, 16 examples per label: 0.651 with a frozen head, 0.650 with SetFit), while the packaged
135M chat model's state after such a prompt does (0.793 on the same examples, bench/tasks.py). The
prompt matters: a neutral "The category of this text is", or the label names listed in it,
separated them far less. Chinese reviews (zh-reviews) gain nothing: the chat model's state alone
got 0.59 at 16 per label, as the n-gram classifier did, so text the encoder cannot read still
goes to n-grams.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lmdemo.errors import UserError
from lmdemo.tasks.classify import Prediction, Progress, TrainingCancelled, _predictions, evaluate
from lmdemo.words import is_chinese

PROMPTS = {"en": "Text: {text}\nThe {aspect} of this text is", "zh": "文本：{text}\n这段文本的{aspect}是"}
MAX_TEXT_CHARS = 600  # the start of a long text says what it is about (~130 tokens of English)
MAX_ASPECT_CHARS = 40
# The head's regularisation is chosen by cross-validation among STRENGTHS (inverse strengths: the
# more rows, the stronger it pays to regularise: movie snippets, all 2,000 rows, 0.845 at C=0.1 and
# 0.870 at 0.003; at 16 per label all of them score alike); FEW_EXAMPLES_C when a label has one example.
STRENGTHS = [0.003, 0.01, 0.03, 0.1, 0.3]
FEW_EXAMPLES_C = 0.1
BATCH = 16  # texts read between progress reports and checks for Cancel
# Label names that say what the labels describe when the user leaves it blank: sentiment, the aspect
# whose reading was measured to help (movie snippets labelled positive/negative, 16 per label: 0.797
# against 0.649 for SetFit; topics gain nothing: BBC 0.948 against 0.951).
SENTIMENT_LABELS = frozenset({"positive", "negative", "neutral", "mixed", "pos", "neg", "good", "bad",
                              "正面", "负面", "中性", "积极", "消极", "好评", "差评"})

Embed = Callable[[Sequence[str]], np.ndarray]
States = Callable[[Sequence[str]], tuple[str, np.ndarray]]  # prompts -> (chat model, last-token states)


def clean_aspect(aspect: str) -> str:
    """What the labels describe, as a short phrase for the prompt."""
    phrase = " ".join(aspect.split())
    if len(phrase) > MAX_ASPECT_CHARS:
        raise UserError(f"Say what the labels describe in a word or two (at most {MAX_ASPECT_CHARS} characters), "
                        "e.g. sentiment or topic.",
                        f"请用一两个词说明标签描述的是什么（最多 {MAX_ASPECT_CHARS} 个字符），例如 情感 或 主题。")
    return phrase


def guess_aspect(labels: Sequence[str], texts: Sequence[str]) -> str:
    """What the labels describe when every one is a sentiment word ("sentiment", or 情感 for Chinese
    texts), else "": then the user's word is needed."""
    names = {" ".join(str(label).lower().split()) for label in labels}
    if len(names) < 2 or not names <= SENTIMENT_LABELS:
        return ""
    return "情感" if is_chinese(" ".join(texts[:20])) else "sentiment"


def prompt(aspect: str, text: str) -> str:
    """The prompt the chat model reads `text` in: Chinese when the aspect is written in Chinese."""
    template = PROMPTS["zh" if is_chinese(aspect) else "en"]
    return template.format(text=" ".join(text[:MAX_TEXT_CHARS].split()), aspect=aspect)


def prompt_ending(aspect: str) -> str:
    """The words the chat model's state is read at, to show the user."""
    return prompt(aspect, "").rsplit("\n", 1)[-1] + " …"


def features(embed: Embed, states: States, aspect: str, texts: Sequence[str], chat_model: str | None = None,
             progress: Progress | None = None, cancel: threading.Event | None = None) -> tuple[str, np.ndarray]:
    """The encoder's embedding and the chat model's state side by side, one row per text, and the
    chat model that read them; refused when it is not `chat_model` (the features would mean nothing)."""
    report = progress or (lambda fraction, message: None)
    rows = []
    for start in range(0, len(texts), BATCH):
        if cancel is not None and cancel.is_set():
            raise TrainingCancelled("Few-shot training cancelled; nothing was kept.")
        model, read = states([prompt(aspect, t) for t in texts[start:start + BATCH]])
        if chat_model is not None and model != chat_model:
            raise UserError(f"The chat model is now {model}, not {chat_model}, which read the few-shot examples: "
                            "train the few-shot classifier again.",
                            f"聊天模型现在是 {model}，不是读少样本例子的 {chat_model}：请重新训练少样本分类器。")
        chat_model = model
        rows.append(read)
        done = min(start + BATCH, len(texts))
        report(0.9 * done / len(texts), f"the chat model read {done}/{len(texts)} examples")
    return str(chat_model), np.hstack([embed(list(texts)), np.vstack(rows)])


@dataclass
class PromptedHeadClassifier:
    """A head on encoder embeddings and chat-model states, kept in one user's session."""

    classes: list[str]
    aspect: str
    chat_model: str
    encoder: str  # the encoder whose embeddings the head was fitted on
    head: Any  # a scikit-learn pipeline: standardise, then logistic regression
    metrics: dict[str, Any] = field(default_factory=dict)  # held-out scores when trained on a CSV

    def predict(self, embed: Embed, states: States, texts: Sequence[str]) -> list[Prediction]:
        _, rows = features(embed, states, self.aspect, texts, self.chat_model)
        return _predictions(self.head.predict_proba(rows), self.classes)


def _fit(rows: np.ndarray, labels: Sequence[str]) -> Any:
    """Standardise, then logistic regression with its strength chosen by cross-validation."""
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    folds = min(5, *Counter(labels).values())
    fit = (LogisticRegressionCV(Cs=STRENGTHS, cv=folds, max_iter=3000, scoring="neg_log_loss", l1_ratios=(0.0,),
                                use_legacy_attributes=False) if folds >= 2
           else LogisticRegression(C=FEW_EXAMPLES_C, max_iter=3000))
    return make_pipeline(StandardScaler(), fit).fit(rows, list(labels))


def train_prompted_head(embed: Embed, states: States, aspect: str, texts: Sequence[str], labels: Sequence[str],
                        encoder: str = "", progress: Progress | None = None,
                        cancel: threading.Event | None = None, held: Sequence[int] = ()) -> PromptedHeadClassifier:
    """Read the examples with both models and fit the head.

    With `held` row indices (a CSV), a head fitted on the other rows is first scored on them (the
    metrics), then the head kept is fitted on every row: the rows are read once, and a refit takes
    seconds, so nothing the user labelled is left out of the final head.
    """
    if len(set(labels)) < 2:
        raise UserError("Few-shot needs examples of at least two labels.", "少样本至少需要两个标签的例子。")
    aspect = clean_aspect(aspect)
    chat_model, rows = features(embed, states, aspect, texts, progress=progress, cancel=cancel)
    metrics = {}
    if held:
        kept = sorted(set(range(len(texts))) - set(held))
        scorer = _fit(rows[kept], [labels[i] for i in kept])
        classes = [str(c) for c in scorer.classes_]
        predicted = [p.label for p in _predictions(scorer.predict_proba(rows[list(held)]), classes)]
        metrics = evaluate([labels[i] for i in held], predicted, classes)
    head = _fit(rows, labels)
    return PromptedHeadClassifier([str(c) for c in head.classes_], aspect, chat_model, encoder, head, metrics)
