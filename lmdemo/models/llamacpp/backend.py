"""The llama.cpp engine behind `ChatBackend`: prompts from the model's chat template, replies from the batching loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from lmdemo.models.backend import ManagedChatBackend
from lmdemo.models.llamacpp.batching import LlamaCppScheduler
from lmdemo.models.manager import ModelManager
from lmdemo.models.types import BatchingConfig, Chunk, SamplingParams


class LlamaCppChatBackend(ManagedChatBackend):
    """Chat with the manager's GGUF model in llama.cpp; the loop starts on first use."""

    engine = "llama.cpp"

    def __init__(self, manager: ModelManager, batching: BatchingConfig, threads: int,
                 max_prompt_tokens: int | None = None) -> None:
        super().__init__(manager, max_prompt_tokens, load=manager.gguf_chat)
        self._batching = batching
        self._threads = threads
        self._scheduler: LlamaCppScheduler | None = None
        self._lock = threading.Lock()

    def scheduler(self) -> LlamaCppScheduler:
        with self._lock:
            if self._scheduler is None:
                self._scheduler = LlamaCppScheduler(self._load().model, self._batching, self._threads)
            return self._scheduler

    def preload(self) -> None:
        self.scheduler()

    def _context(self) -> int:
        return self.scheduler().context

    def _generate(self, ids: list[int], max_new: int, params: SamplingParams, cancel: threading.Event) -> Iterator[Chunk]:
        yield from self.scheduler().submit(ids, max_new, params, cancel)
