"""The small interface the services use to chat, and its in-process implementation.

Services depend on `ChatBackend` only, so pointing the app at a remote engine changes a
setting, not a tab.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from lmdemo.models.generation import end_token_ids, prepare_prompt
from lmdemo.models.manager import ModelManager
from lmdemo.models.memory import out_of_memory_guard
from lmdemo.models.scheduler import BatchingConfig, BatchScheduler
from lmdemo.models.types import Chunk, Message, SamplingParams


class ChatBackend(Protocol):
    """Streams a chat reply; implementations: local transformers, OpenAI-compatible remote."""

    def model_name(self) -> str: ...

    def stream(
        self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]: ...


ADVICE = "Try a shorter message or fewer max new tokens, or try again in a moment."


class LocalChatBackend:
    """Generates in this process with the manager's chat model, batching concurrent requests."""

    def __init__(self, manager: ModelManager, batching: BatchingConfig, max_prompt_tokens: int | None = None) -> None:
        self._manager = manager
        self._max_prompt_tokens = max_prompt_tokens
        self._batching = batching
        self._scheduler: BatchScheduler | None = None
        self._lock = threading.Lock()

    def model_name(self) -> str:
        return self._manager.chat().report.name

    def scheduler(self) -> BatchScheduler:
        """The batching loop over the chat model, started on first use."""
        with self._lock:
            if self._scheduler is None:
                loaded = self._manager.chat()
                stop_ids = end_token_ids(loaded.tokenizer, loaded.model.generation_config)
                self._scheduler = BatchScheduler(loaded.model, loaded.tokenizer, stop_ids, self._batching)
            return self._scheduler

    def stream(
        self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]:
        loaded = self._manager.chat()
        ids, max_new = prepare_prompt(
            loaded.model, loaded.tokenizer, messages, params.max_new_tokens, self._max_prompt_tokens
        )
        stream = self.scheduler().submit(ids, max_new, params, cancel or threading.Event())
        with out_of_memory_guard("writing this reply", ADVICE):
            yield from stream
