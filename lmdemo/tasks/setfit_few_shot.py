"""Few-shot classification with SetFit: the encoder is first fine-tuned contrastively on pairs of
the user's examples (same label: pull together; different labels: push apart), then a
logistic-regression head is fitted on its new embeddings.

Measured with all-MiniLM-L6-v2 at 16 examples per label (bench/tasks.py), it gains little over a
head on frozen embeddings (movie snippets 0.650 against 0.651, BBC news 0.937 against 0.939) for a
copy of the encoder per trained classifier and a minute or more of training. With fewer than
`MIN_PER_LABEL` examples per label there are too few pairs, and the frozen-embedding head is used
instead. Contrastive training stops at `BUDGET_SECONDS` when the steps take longer: on a slow
2-core CPU the 80 steps took over four minutes for movie snippets, and more steps buy nothing here.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lmdemo.tasks.classify import Prediction, Progress, TrainingCancelled, _predictions

MIN_PER_LABEL = 4
PAIR_STEPS = 80  # contrastive steps of 16 pairs: ~40 s for MiniLM on 2 CPU cores with short texts
# Pairs of long texts are cut to this many tokens, in training and prediction alike: 16 BBC articles
# per label at the encoder's 256 took 372 s on 2 cores (accuracy 0.944), at 128 155 s (0.937).
MAX_TOKENS = 128
BUDGET_SECONDS = 45.0  # contrastive training's share of the minute few-shot may take; the head follows


def wants_setfit(labels: Sequence[str]) -> bool:
    """Enough examples of every label to build contrastive pairs."""
    counts = Counter(labels)
    return len(counts) >= 2 and min(counts.values()) >= MIN_PER_LABEL


@dataclass
class SetFitClassifier:
    """A SetFit model (its own fine-tuned copy of the encoder, and a head) kept in one user's session."""

    classes: list[str]
    model: Any
    steps: int = 0  # contrastive steps run (fewer than asked when the time budget ran out)

    def predict(self, embed: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str]) -> list[Prediction]:
        """`embed` (the shared encoder) is not used: this classifier embeds with its own copy."""
        probabilities = np.asarray(self.model.predict_proba(list(texts), as_numpy=True))
        return _predictions(probabilities, self.classes)


def train_setfit(
    encoder: Any, texts: Sequence[str], labels: Sequence[str], progress: Progress | None = None,
    cancel: threading.Event | None = None, steps: int = PAIR_STEPS, seed: int = 0,
    budget_seconds: float = BUDGET_SECONDS,
) -> SetFitClassifier:
    """Fine-tune a copy of `encoder` (a SentenceTransformer) on pairs of the examples for `steps` steps
    or `budget_seconds`, whichever ends first, then fit the head."""
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from sklearn.linear_model import LogisticRegression
    from transformers import TrainerCallback

    report = progress or (lambda fraction, message: None)
    stop = cancel or threading.Event()

    ran = [0]

    class Watch(TrainerCallback):
        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.started = time.monotonic()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            ran[0] = state.global_step
            report(0.9 * state.global_step / max(state.max_steps, 1),
                   f"contrastive step {state.global_step}/{state.max_steps}")
            if stop.is_set():
                raise TrainingCancelled("Few-shot training cancelled; nothing was kept.")
            if time.monotonic() - self.started >= budget_seconds and state.global_step < state.max_steps:
                report(0.9, f"contrastive training stopped after {state.global_step} of {state.max_steps} steps "
                            f"(its {budget_seconds:.0f} s budget); fitting the head")
                control.should_training_stop = True

    serving_dtype = next(encoder.parameters()).dtype
    body = copy.deepcopy(encoder).float()  # trained in fp32 (bf16 weights lose small updates), served like the encoder
    body.max_seq_length = min(body.max_seq_length or MAX_TOKENS, MAX_TOKENS)
    model = SetFitModel(model_body=body, model_head=LogisticRegression(max_iter=2000, C=10.0))
    args = TrainingArguments(batch_size=16, num_epochs=1, max_steps=steps, seed=seed, show_progress_bar=False,
                             report_to="none", logging_strategy="no", save_strategy="no", eval_strategy="no")
    trainer = Trainer(model=model, args=args, callbacks=[Watch()],
                      train_dataset=Dataset.from_dict({"text": list(texts), "label": list(labels)}))
    report(0.0, "building pairs of examples")
    trainer.train()
    body.to(serving_dtype)
    report(1.0, "head trained")
    return SetFitClassifier([str(c) for c in model.model_head.classes_], model, ran[0])
