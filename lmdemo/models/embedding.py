"""Sentence embeddings from the manager's encoder, in batches with progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lmdemo.models.coverage import Coverage, coverage
from lmdemo.models.loading import ModelReport
from lmdemo.models.manager import ModelManager


def encoder_identity(report: ModelReport) -> str:
    """An encoder's name, with its quantization when it has one (which moves the vectors too)."""
    return report.name if report.quantization == "none" else f"{report.name} ({report.quantization})"


class LocalEmbedder:
    """Embeds with the local sentence-transformers encoder; vectors are L2-normalised."""

    def __init__(self, manager: ModelManager, batch_size: int = 256) -> None:
        self._manager = manager
        self._batch_size = batch_size

    def tokenizer(self):
        """The encoder's tokenizer: passages are sized with it."""
        return self._manager.encoder().tokenizer

    def coverage(self, texts: str | Sequence[str]) -> Coverage:
        """How much of `texts` the encoder can read (its tokenizer's unknown characters)."""
        return coverage(self.tokenizer(), texts)

    def name(self) -> str:
        """What identifies these vectors: an index built with another encoder cannot be searched with them."""
        return encoder_identity(self._manager.encoder().report)

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        encoder = self._manager.encoder().model
        out = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            out.append(
                encoder.encode(batch, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
            )
            if progress is not None:
                progress(start + len(batch))
        if not out:
            return np.zeros((0, encoder.get_sentence_embedding_dimension()), dtype=np.float32)
        vectors = np.vstack(out).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)  # in fp32: a bf16 encoder's own normalising is off by 0.3%
