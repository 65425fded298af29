"""The small interface the services use to chat, and its in-process implementations.

Services depend on `ChatBackend` only, so pointing the app at a remote engine, or running each
reply as its own ZeroGPU call, changes a setting, not a tab.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from typing import Any, Protocol

from lmdemo.limits import Slots
from lmdemo.models.generation import end_token_ids, prepare_prompt, stream_ids
from lmdemo.models.manager import ModelManager
from lmdemo.models.memory import out_of_memory_guard
from lmdemo.models.runner import ModelRunner, model_task
from lmdemo.models.scheduler import BatchingConfig, BatchScheduler
from lmdemo.models.types import Chunk, Message, SamplingParams


class ChatBackend(Protocol):
    """Streams a chat reply; implementations: local transformers, OpenAI-compatible remote."""

    def model_name(self) -> str: ...

    def stream(
        self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]: ...


ADVICE = "Try a shorter message or fewer max new tokens, or try again in a moment."


class _ManagedChatBackend:
    """What the in-process backends share: the manager's chat model, whose template builds the prompt."""

    def __init__(self, manager: ModelManager, max_prompt_tokens: int | None) -> None:
        self._manager = manager
        self._max_prompt_tokens = max_prompt_tokens

    def model_name(self) -> str:
        return self._manager.chat().report.name

    def _prompt(self, messages: Sequence[Message], params: SamplingParams) -> tuple[list[int], int]:
        """Prompt ids (old turns dropped to fit) and the new tokens allowed; too long is refused here."""
        loaded = self._manager.chat()
        return prepare_prompt(loaded.model, loaded.tokenizer, messages, params.max_new_tokens, self._max_prompt_tokens)


class LocalChatBackend(_ManagedChatBackend):
    """Generates in this process with the manager's chat model, batching concurrent requests."""

    def __init__(self, manager: ModelManager, batching: BatchingConfig, max_prompt_tokens: int | None = None) -> None:
        super().__init__(manager, max_prompt_tokens)
        self._batching = batching
        self._scheduler: BatchScheduler | None = None
        self._lock = threading.Lock()

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
        ids, max_new = self._prompt(messages, params)
        stream = self.scheduler().submit(ids, max_new, params, cancel or threading.Event())
        with out_of_memory_guard("writing this reply", ADVICE):
            yield from stream


def _generate_seconds(max_seconds: float, ids: Sequence[int], max_new: int, params: dict[str, Any]) -> float:
    """GPU time for one reply: start-up, the prompt, then ~20 tokens/s (eager decoding of a ~2B model)."""
    return 8.0 + len(ids) / 2000 + max_new / 20


@model_task(_generate_seconds)
def generate_task(models: ModelManager, ids: list[int], max_new: int, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One reply with `generate` and its own streamer thread; closing the stream ends generation."""
    loaded = models.chat()
    stop_ids = end_token_ids(loaded.tokenizer, loaded.model.generation_config)
    stream = stream_ids(
        loaded.model, loaded.tokenizer, ids, max_new, SamplingParams(**params), threading.Event(), stop_ids
    )
    try:
        with out_of_memory_guard("writing this reply", ADVICE):
            for chunk in stream:
                yield asdict(chunk)
    finally:
        stream.close()


class PerCallChatBackend(_ManagedChatBackend):
    """One `generate` per reply, run by a ModelRunner: no batching loop, nothing kept between replies.

    This is the ZeroGPU shape (each reply is a GPU call in a forked worker). The prompt is
    templated and trimmed here, so a message that is too long is refused before any GPU time.
    """

    def __init__(self, manager: ModelManager, runner: ModelRunner, slots: Slots,
                 max_prompt_tokens: int | None = None) -> None:
        super().__init__(manager, max_prompt_tokens)
        self._runner = runner
        self._slots = slots

    def stream(
        self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]:
        ids, max_new = self._prompt(messages, params)
        with self._slots.take():
            stream = self._runner.stream(generate_task, ids, max_new, asdict(params))
            try:
                for item in stream:
                    chunk = Chunk(**item)
                    if cancel is not None and cancel.is_set():
                        yield Chunk("", chunk.completion_tokens, len(ids), "cancelled")
                        return
                    yield chunk
            finally:
                stream.close()
