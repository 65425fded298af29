"""Classification for the Playground tab, the /classify endpoint and the classify CLI.

Holds no user data: trained heads and models are returned to the caller, which keeps
them in the user's session.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from lmdemo.errors import UserError
from lmdemo.models.loading import load_sequence_classifier
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
    zero_shot,
)
from lmdemo.tasks.dataset import LabelledTexts
from lmdemo.tasks.summarize import abstractive, extractive
from lmdemo.text import clean_user_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from lmdemo.docqa.index import Embedder
    from lmdemo.models.backend import ChatBackend


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


class ClassifyService:
    """Zero-shot, few-shot and fine-tuned classification on the configured encoder.

    Zero-shot uses the NLI model named by `settings.zero_shot_model` when one is set,
    else encoder similarity; `zero_shot_chat` asks the chat model instead.
    """

    def __init__(self, embedder: Embedder, settings: Settings, chat: ChatBackend, nli: Any = None) -> None:
        self._embedder = embedder
        self._settings = settings
        self._chat = chat
        self._nli = nli

    def _texts(self, texts: Sequence[str]) -> list[str]:
        cleaned = [clean_user_text(t).strip() for t in texts]
        if not cleaned or not all(cleaned):
            raise UserError("Type some text to classify.")
        return cleaned

    def zero_shot(self, texts: Sequence[str], labels: Sequence[Label]) -> list[Prediction]:
        if self._nli is not None:
            return nli_zero_shot(self._nli(), self._texts(texts), labels)
        return zero_shot(self._embedder.embed, self._texts(texts), labels)

    def zero_shot_chat(self, texts: Sequence[str], labels: Sequence[Label]) -> list[Prediction]:
        params = SamplingParams(temperature=0.0, max_new_tokens=12, repetition_penalty=1.0)
        predictions = []
        for text in self._texts(texts):
            reply = "".join(chunk.text for chunk in self._chat.stream(chat_prompt(text, labels), params))
            predictions.append(parse_chat_label(reply, labels))
        return predictions

    def train_few_shot(self, data: LabelledTexts) -> FewShotClassifier:
        return FewShotClassifier.train(self._embedder.embed, self._texts(data.texts), data.labels)

    def few_shot(self, head: FewShotClassifier, texts: Sequence[str]) -> list[Prediction]:
        return head.predict(self._embedder.embed, self._texts(texts))

    def fine_tune(
        self,
        data: LabelledTexts,
        config: TrainConfig = TrainConfig(),
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
        quantization: str = "none",
    ) -> TrainedClassifier:
        """Fine-tune the encoder as a classifier; `quantization="8bit"` loads the base with bitsandbytes."""
        s = self._settings

        def load(classes: list[str]):
            return load_sequence_classifier(
                s.encoder_model, labels=classes, device=s.device, quantization=quantization,  # type: ignore[arg-type]
                cache_dir=s.cache_dir, trust_remote_code=s.trust_remote_code,
            )

        return fine_tune(load, self._texts(data.texts), data.labels, config, progress, cancel, base=s.encoder_model)


class SummarizeService:
    """Extractive and abstractive summaries of pasted or uploaded text."""

    def __init__(self, embedder: Embedder, chat: ChatBackend) -> None:
        self._embedder = embedder
        self._chat = chat

    def summarize(
        self, text: str, mode: str = "extractive", n_sentences: int = 3, progress: Progress | None = None
    ) -> Iterator[str]:
        """Stream the summary (extractive arrives at once)."""
        n_sentences = max(1, min(int(n_sentences), 20))
        if mode == "extractive":
            yield extractive(self._embedder.embed, text, n_sentences)
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
