"""The llama.cpp engine behind `ChatBackend`: prompts from the model's chat template, replies from the batching loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from lmdemo.models.backend import BatchedChatBackend
from lmdemo.models.llamacpp.batching import LlamaCppScheduler
from lmdemo.models.loading import LoadedModel
from lmdemo.models.manager import ModelManager
from lmdemo.models.types import BatchingConfig, Chunk, SamplingParams


class LlamaCppChatBackend(BatchedChatBackend):
    """Chat with the manager's GGUF model in llama.cpp; the loop starts on first use."""

    engine = "llama.cpp"

    def __init__(self, manager: ModelManager, batching: BatchingConfig, threads: int,
                 max_prompt_tokens: int | None = None) -> None:
        super().__init__(manager, batching, max_prompt_tokens, load=manager.gguf_chat)
        self._threads = threads

    def _states_model(self) -> LoadedModel:
        """The manager's transformers copy of the model: llama.cpp's Q4_1 prompt kernels took 12.6 s
        for 160 movie reviews where the copy took 3.1 s in bf16 and 10.4 s in fp32."""
        return self._manager.chat_states()

    def _start(self) -> LlamaCppScheduler:
        return LlamaCppScheduler(self._load().model, self._batching, self._threads)

    def _context(self) -> int:
        return self.scheduler().context

    def _generate(self, ids: list[int], max_new: int, params: SamplingParams, cancel: threading.Event) -> Iterator[Chunk]:
        yield from self.scheduler().submit(ids, max_new, params, cancel)
