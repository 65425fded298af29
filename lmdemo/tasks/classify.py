"""Text classification three ways, from no examples to many.

- zero-shot: similarity between the text and each label's description, in encoder space;
- few-shot: a logistic-regression head trained on encoder embeddings of a few examples;
- fine-tune: the encoder itself trained as a sequence classifier on the user's CSV.
"""

from __future__ import annotations

import io
import json
import math
import random
import threading
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lmdemo.errors import UserError
from lmdemo.runtime import encoder_in_bf16
from lmdemo.settings import EncoderDtype

Progress = Callable[[float, str], None]
METRICS_FILE = "lmdemo_metrics.json"


class TrainingCancelled(UserError):
    """The user pressed Cancel; nothing was kept."""


@dataclass(frozen=True)
class Label:
    """A class name with an optional description that zero-shot compares texts against."""

    name: str
    description: str = ""

    def prompt(self) -> str:
        return f"{self.name}: {self.description}" if self.description else f"This text is about {self.name}."


def parse_labels(spec: str | Sequence[str]) -> list[Label]:
    """Labels from `a, b, c` or one per line as `name: description`; duplicates removed."""
    if isinstance(spec, str):
        parts = spec.splitlines() if "\n" in spec.strip() else spec.split(",")
    else:
        parts = list(spec)
    labels: dict[str, Label] = {}
    for part in parts:
        name, _, description = part.partition(":")
        name = name.strip()
        if name and name not in labels:
            labels[name] = Label(name, description.strip())
    if len(labels) < 2:
        raise UserError("Give at least two labels, e.g. `sport, politics, tech`.", "请至少给出两个标签，例如 `体育, 政治, 科技`。")
    return list(labels.values())


@dataclass(frozen=True)
class Prediction:
    """The chosen label and every label's probability."""

    label: str
    scores: dict[str, float]


def _softmax(x: np.ndarray, temperature: float) -> np.ndarray:
    z = x / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _predictions(probabilities: np.ndarray, names: Sequence[str]) -> list[Prediction]:
    return [
        Prediction(names[int(row.argmax())], {n: float(p) for n, p in zip(names, row)}) for row in probabilities
    ]


def zero_shot(embed: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str], labels: Sequence[Label],
              temperature: float = 0.05) -> list[Prediction]:
    """Label each text by cosine similarity to the label descriptions (softmax-scaled)."""
    text_vectors = embed(list(texts))
    label_vectors = embed([label.prompt() for label in labels])
    return _predictions(_softmax(text_vectors @ label_vectors.T, temperature), [label.name for label in labels])


def nli_zero_shot(pipeline: Any, texts: Sequence[str], labels: Sequence[Label]) -> list[Prediction]:
    """Label each text with an NLI model: P(entailment) of "This text is about {label}." per label."""
    names = [label.name for label in labels]
    outputs = pipeline(list(texts), candidate_labels=names, hypothesis_template="This text is about {}.")
    outputs = outputs if isinstance(outputs, list) else [outputs]
    rows = np.array([[dict(zip(o["labels"], o["scores"]))[n] for n in names] for o in outputs])
    return _predictions(rows, names)


def chat_prompt(text: str, labels: Sequence[Label]) -> list[dict[str, str]]:
    """Ask the chat model for one label (a plain question works best with small models)."""
    names = " or ".join(label.name for label in labels)
    described = "".join(f"- {label.name}: {label.description}\n" for label in labels if label.description)
    return [
        {"role": "system", "content": "You are a helpful assistant."},
        {
            "role": "user",
            "content": f"Which topic is this text about: {names}? Answer with one word.\n\n"
            f"{described}{chr(10) if described else ''}Text: {text}",
        },
    ]


def parse_chat_label(reply: str, labels: Sequence[Label]) -> Prediction:
    """The label the reply names first (all mass on it); uniform when it names none."""
    lowered = reply.lower()
    found = [(lowered.find(label.name.lower()), label.name) for label in labels if label.name.lower() in lowered]
    names = [label.name for label in labels]
    if not found:
        return Prediction(names[0], {n: 1.0 / len(names) for n in names})
    chosen = min(found)[1]
    return Prediction(chosen, {n: float(n == chosen) for n in names})


@dataclass
class FewShotClassifier:
    """Logistic regression on frozen encoder embeddings: trains in about a second."""

    classes: list[str]
    head: Any

    @classmethod
    def train(cls, embed: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str],
              labels: Sequence[str]) -> "FewShotClassifier":
        from sklearn.linear_model import LogisticRegression

        if len(set(labels)) < 2:
            raise UserError("Few-shot needs examples of at least two labels.", "少样本至少需要两个标签的例子。")
        head = LogisticRegression(max_iter=2000, C=10.0)
        head.fit(embed(list(texts)), list(labels))
        return cls(list(head.classes_), head)

    def predict(self, embed: Callable[[Sequence[str]], np.ndarray], texts: Sequence[str]) -> list[Prediction]:
        return _predictions(self.head.predict_proba(embed(list(texts))), self.classes)


def stratified_split(labels: Sequence[str], holdout: float, seed: int = 0) -> tuple[list[int], list[int]]:
    """Train and held-out row indices with every class in both (when it has two rows or more)."""
    rng = random.Random(seed)
    by_class: dict[str, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    train, held = [], []
    for rows in by_class.values():
        rng.shuffle(rows)
        n_held = min(len(rows) - 1, max(1, round(len(rows) * holdout))) if len(rows) > 1 else 0
        held += rows[:n_held]
        train += rows[n_held:]
    return sorted(train), sorted(held)


def evaluate(gold: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 and the confusion matrix (rows: gold, columns: predicted)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    return {
        "accuracy": float(accuracy_score(gold, predicted)),
        "macro_f1": float(f1_score(gold, predicted, labels=list(classes), average="macro", zero_division=0)),
        "classes": list(classes),
        "confusion": confusion_matrix(gold, predicted, labels=list(classes)).tolist(),
        "support": len(gold),
    }


@dataclass(frozen=True)
class TrainConfig:
    """Fine-tuning settings; the defaults fit a CPU and a few thousand rows.

    `epochs` is the most that run: after each one the model is scored on the held-out split, the
    best epoch's weights are kept, and training stops after `patience` epochs without a better
    score (0: no early stopping, the last epoch is kept). `max_length` 0 sizes it from the data.
    `precision` on the CPU: "bfloat16" computes under bf16 autocast (the weights stay fp32),
    "float32" does not, "auto" does where the CPU has native bf16 (as `--encoder-dtype auto`).
    """

    epochs: int = 3
    batch_size: int = 16
    learning_rate: float = 5e-5
    max_length: int = 0
    holdout: float = 0.15
    seed: int = 0
    patience: int = 2
    precision: EncoderDtype = "auto"


@dataclass
class TrainedClassifier:
    """A fine-tuned sequence classifier held in the user's session."""

    model: Any
    tokenizer: Any
    classes: list[str]
    max_length: int
    metrics: dict[str, Any] = field(default_factory=dict)
    base: str = ""

    def predict(self, texts: Sequence[str], batch_size: int = 32) -> list[Prediction]:
        import torch

        self.model.eval()
        rows = []
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + batch_size]),
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.model.device)
                rows.append(self.model(**batch).logits.float().softmax(-1).cpu().numpy())
        return _predictions(np.vstack(rows), self.classes)

    def export_zip(self) -> bytes:
        """The model as safetensors plus config and tokenizer, zipped: the download, and what crosses
        back from a ZeroGPU worker (only plain bytes can)."""
        import tempfile

        info = {"base": self.base, "max_length": self.max_length, **self.metrics}
        with tempfile.TemporaryDirectory() as folder:
            self.model.save_pretrained(folder, safe_serialization=True)
            self.tokenizer.save_pretrained(folder)
            Path(folder, METRICS_FILE).write_text(json.dumps(info, indent=2))
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:  # safetensors do not compress
                for path in sorted(Path(folder).iterdir()):
                    archive.write(path, path.name)
        return buffer.getvalue()

    @classmethod
    def from_zip(cls, data: bytes, device: str = "cpu") -> "TrainedClassifier":
        """Load a model written by `export_zip` (safetensors only) onto `device`."""
        import tempfile

        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        with tempfile.TemporaryDirectory() as folder, zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                if Path(name).name != name:
                    raise UserError("The model archive holds nested paths; it was not written by lmdemo.")
            archive.extractall(folder)
            info = json.loads(Path(folder, METRICS_FILE).read_text())
            model = AutoModelForSequenceClassification.from_pretrained(folder, use_safetensors=True, device_map=device)
            tokenizer = AutoTokenizer.from_pretrained(folder)
        base, max_length = info.pop("base", ""), int(info.pop("max_length"))
        classes = [model.config.id2label[i] for i in range(model.config.num_labels)]
        return cls(model.eval(), tokenizer, classes, max_length, info, base)


def length_for(tokenizer: Any, texts: Sequence[str], cap: int = 128) -> int:
    """A max length that keeps 95% of the texts whole, at most `cap`: short texts train much faster.
    (BBC articles at 256 tokens and 4 epochs: 0.984 in 994 s, where 128 tokens and 2 epochs gave
    0.975 in 190 s.)"""
    lengths = sorted(len(ids) for ids in tokenizer(list(texts), truncation=True, max_length=cap)["input_ids"])
    wanted = lengths[min(len(lengths) - 1, int(0.95 * len(lengths)))] if lengths else cap
    return min(cap, max(16, math.ceil(wanted / 16) * 16))


def fine_tune(
    load: Callable[[list[str]], Any],
    texts: Sequence[str],
    labels: Sequence[str],
    config: TrainConfig = TrainConfig(),
    progress: Progress | None = None,
    cancel: threading.Event | None = None,
    base: str = "",
) -> TrainedClassifier:
    """Train a sequence classifier; `load(classes)` returns a LoadedModel with a fresh head.

    Reports progress per step, stops at once when `cancel` is set, and evaluates on a
    stratified held-out split at the end.
    """
    import torch
    from transformers import get_linear_schedule_with_warmup

    report = progress or (lambda fraction, message: None)
    cancel = cancel or threading.Event()
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise UserError("Fine-tuning needs at least two classes.", "微调至少需要两个类别。")
    train_rows, held_rows = stratified_split(labels, config.holdout, config.seed)
    torch.manual_seed(config.seed)
    loaded = load(classes)
    model, tokenizer = loaded.model, loaded.tokenizer
    max_length = config.max_length or length_for(tokenizer, [texts[i] for i in train_rows])
    label_id = {c: i for i, c in enumerate(classes)}
    bf16 = model.device.type == "cpu" and encoder_in_bf16(config.precision)
    trainable = [p for p in model.parameters() if p.requires_grad and p.dtype.is_floating_point]
    optimizer = torch.optim.AdamW(trainable, lr=config.learning_rate, weight_decay=0.01)
    steps_per_epoch = math.ceil(len(train_rows) / config.batch_size)
    total = steps_per_epoch * config.epochs
    # Warm up over 10% of the steps, at most one epoch: early stopping must not judge a model still warming up.
    schedule = get_linear_schedule_with_warmup(optimizer, min(int(0.1 * total), steps_per_epoch), total)
    rng = random.Random(config.seed)
    step = 0
    best: tuple[float, int, dict[str, Any] | None] = (-1.0, 0, None)  # held-out score, epoch, trained weights
    for epoch in range(config.epochs):
        model.train()
        order = train_rows[:]
        rng.shuffle(order)
        for start in range(0, len(order), config.batch_size):
            if cancel.is_set():
                raise TrainingCancelled("Training cancelled.")
            rows = order[start : start + config.batch_size]
            batch = tokenizer(
                [texts[i] for i in rows], truncation=True, max_length=max_length, padding=True,
                return_tensors="pt",
            ).to(model.device)
            target = torch.tensor([label_id[labels[i]] for i in rows], device=model.device)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = model(**batch).logits.float()
            loss = torch.nn.functional.cross_entropy(logits, target)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            report(0.95 * step / total, f"epoch {epoch + 1}/{config.epochs} · step {step}/{total} · loss {loss.item():.3f}")
        if not (config.patience and held_rows):
            continue
        model.eval()
        scored = TrainedClassifier(model, tokenizer, classes, max_length)
        predicted = [p.label for p in scored.predict([texts[i] for i in held_rows])]
        score = evaluate([labels[i] for i in held_rows], predicted, classes)["macro_f1"]
        report(0.95 * step / total, f"epoch {epoch + 1}: held-out macro-F1 {score:.3f}")
        if score > best[0]:
            best = (score, epoch, {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad})
        elif epoch - best[1] >= config.patience:
            report(0.95, f"stopping early: epoch {best[1] + 1} was the best")
            break
    if best[2] is not None:  # only trained weights change (an 8-bit base stays frozen)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if name in best[2]:
                    parameter.copy_(best[2][name])
    model.eval()
    trained = TrainedClassifier(model, tokenizer, classes, max_length, base=base)
    if held_rows:
        report(0.96, "evaluating on the held-out split")
        predicted = [p.label for p in trained.predict([texts[i] for i in held_rows])]
        trained.metrics = evaluate([labels[i] for i in held_rows], predicted, classes)
    report(1.0, "done")
    return trained
