"""The small interface the services use to chat, and its in-process implementations.

Services depend on `ChatBackend` only, so pointing the app at a remote engine, or running each
reply as its own ZeroGPU call, changes a setting, not a tab.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict
from typing import Any, Protocol, runtime_checkable

import numpy as np
from lmdemo.limits import Slots
from lmdemo.models.generation import context_length, end_token_ids, prepare_prompt, stream_ids
from lmdemo.models.loading import LoadedModel
from lmdemo.models.manager import ModelManager
from lmdemo.models.memory import out_of_memory_guard
from lmdemo.models.runner import ModelRunner, model_task
from lmdemo.models.scheduler import BatchScheduler
from lmdemo.models.states import last_token_states
from lmdemo.models.stopping import stop_at
from lmdemo.models.types import BatchingConfig
from lmdemo.models.types import Chunk, Message, SamplingParams


class ChatBackend(Protocol):
    """Streams a chat reply; implementations: transformers (batched, or one call per reply), llama.cpp,
    an OpenAI-compatible remote server."""

    engine: str  # what generates: "transformers", "llama.cpp", "remote"

    def model_name(self) -> str: ...

    def preload(self) -> None:
        """Load the model and start what serves it, so the first request does not wait."""

    def close(self) -> None:
        """Stop what serves the model (its batching loop), once no reply needs it."""

    def stream(
        self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]: ...


@runtime_checkable
class PromptStates(Protocol):
    """A chat backend that can also read prompts into hidden states (in-process engines only)."""

    def last_token_states(self, prompts: Sequence[str]) -> np.ndarray:
        """The model's final (normalised) hidden state at each prompt's last token: GPT-1's features
        for a linear classifier. Prompts are raw text, not chat turns."""


ADVICE = "Try a shorter message or fewer max new tokens, or try again in a moment."


class ManagedChatBackend(ABC):
    """What the in-process backends share: the manager's chat model, whose template builds the
    prompt (old turns dropped to fit, too long refused before any generation), and stop strings.

    Subclasses generate from prepared ids in `_generate`.
    """

    engine = "transformers"

    def __init__(self, manager: ModelManager, max_prompt_tokens: int | None,
                 load: Callable[[], LoadedModel] | None = None) -> None:
        self._manager = manager
        self._max_prompt_tokens = max_prompt_tokens
        self._load = load or manager.chat

    def model_name(self) -> str:
        return self._load().report.name

    def _context(self) -> int:
        """Tokens a prompt and its reply may use together."""
        return context_length(self._load().model)

    def stream(
        self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]:
        ids, max_new = prepare_prompt(
            self._context(), self._load().tokenizer, messages, params.max_new_tokens, self._max_prompt_tokens
        )
        yield from stop_at(self._generate(ids, max_new, params, cancel or threading.Event()), params.stop)

    @abstractmethod
    def _generate(self, ids: list[int], max_new: int, params: SamplingParams, cancel: threading.Event) -> Iterator[Chunk]:
        """Stream the reply to prepared prompt ids."""


class BatchedChatBackend(ManagedChatBackend):
    """A backend whose replies come from a batching loop over the model, started on first use."""

    def __init__(self, manager: ModelManager, batching: BatchingConfig, max_prompt_tokens: int | None,
                 load: Callable[[], LoadedModel] | None = None) -> None:
        super().__init__(manager, max_prompt_tokens, load)
        self._batching = batching
        self._scheduler: Any = None
        self._lock = threading.Lock()

    def scheduler(self) -> Any:
        with self._lock:
            if self._scheduler is None:
                self._scheduler = self._start()
            return self._scheduler

    def preload(self) -> None:
        self.scheduler()

    def last_token_states(self, prompts: Sequence[str]) -> np.ndarray:
        """These engines run in this process, so they can read prompts (`PromptStates`)."""
        loaded = self._states_model()
        with out_of_memory_guard("reading the examples", ADVICE):
            return last_token_states(loaded.model, loaded.tokenizer, prompts)

    def _states_model(self) -> LoadedModel:
        """The transformers model that reads prompts: the chat model itself."""
        return self._load()

    def close(self) -> None:
        with self._lock:
            if self._scheduler is not None:
                self._scheduler.close()
                self._scheduler = None

    @abstractmethod
    def _start(self) -> Any:
        """The engine's batching loop (it has `submit` and `close`)."""


class LocalChatBackend(BatchedChatBackend):
    """Generates in this process with the manager's chat model in transformers, batching concurrent requests."""

    def __init__(self, manager: ModelManager, batching: BatchingConfig, max_prompt_tokens: int | None = None) -> None:
        super().__init__(manager, batching, max_prompt_tokens)

    def _start(self) -> BatchScheduler:
        loaded = self._manager.chat()
        stop_ids = end_token_ids(loaded.tokenizer, loaded.model.generation_config)
        return BatchScheduler(loaded.model, loaded.tokenizer, stop_ids, self._batching)

    def _generate(self, ids: list[int], max_new: int, params: SamplingParams, cancel: threading.Event) -> Iterator[Chunk]:
        stream = self.scheduler().submit(ids, max_new, params, cancel)
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


class PerCallChatBackend(ManagedChatBackend):
    """One `generate` per reply, run by a ModelRunner: no batching loop, nothing kept between replies.

    This is the ZeroGPU shape (each reply is a GPU call in a forked worker); the prompt is
    prepared here, so a message that is too long is refused before any GPU time.
    """

    def __init__(self, manager: ModelManager, runner: ModelRunner, slots: Slots,
                 max_prompt_tokens: int | None = None) -> None:
        super().__init__(manager, max_prompt_tokens)
        self._runner = runner
        self._slots = slots

    def preload(self) -> None:
        self._manager.chat()

    def close(self) -> None:
        """Nothing runs between replies."""

    def _generate(self, ids: list[int], max_new: int, params: SamplingParams, cancel: threading.Event) -> Iterator[Chunk]:
        with self._slots.take():
            stream = self._runner.stream(generate_task, ids, max_new, asdict(params))
            try:
                for item in stream:
                    chunk = Chunk(**item)
                    if cancel.is_set():
                        yield Chunk("", chunk.completion_tokens, len(ids), "cancelled")
                        return
                    yield chunk
            finally:
                stream.close()
