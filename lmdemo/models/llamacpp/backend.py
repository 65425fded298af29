"""The llama.cpp engine behind `ChatBackend`: prompts from the model's chat template, replies from the batching loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np

from lmdemo.models.backend import BatchedChatBackend
from lmdemo.models.llamacpp.batching import LlamaCppScheduler
from lmdemo.models.llamacpp.states import LastTokenStates
from lmdemo.models.manager import ModelManager
from lmdemo.models.types import BatchingConfig, Chunk, SamplingParams


class LlamaCppChatBackend(BatchedChatBackend):
    """Chat with the manager's GGUF model in llama.cpp; the loop starts on first use."""

    engine = "llama.cpp"

    def __init__(self, manager: ModelManager, batching: BatchingConfig, threads: int,
                 max_prompt_tokens: int | None = None) -> None:
        super().__init__(manager, batching, max_prompt_tokens, load=manager.gguf_chat)
        self._threads = threads
        self._states: LastTokenStates | None = None

    def last_token_states(self, prompts: Sequence[str]) -> np.ndarray:
        loaded = self._load()
        with self._lock:
            if self._states is None:
                self._states = LastTokenStates(loaded.model, self._threads)
            states = self._states
        return states.read([loaded.tokenizer(prompt)["input_ids"] for prompt in prompts])

    def close(self) -> None:
        super().close()
        with self._lock:
            if self._states is not None:
                self._states.close()
                self._states = None

    def _start(self) -> LlamaCppScheduler:
        return LlamaCppScheduler(self._load().model, self._batching, self._threads)

    def _context(self) -> int:
        return self.scheduler().context

    def _generate(self, ids: list[int], max_new: int, params: SamplingParams, cancel: threading.Event) -> Iterator[Chunk]:
        yield from self.scheduler().submit(ids, max_new, params, cancel)
