"""The small interface the services use to chat, and its in-process implementation.

Services depend on `ChatBackend` only, so pointing the app at a remote engine changes a
setting, not a tab.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Protocol

from lmdemo.models.generation import end_token_ids, stream_chat
from lmdemo.models.types import Chunk, Message, SamplingParams
from lmdemo.models.manager import ModelManager


class ChatBackend(Protocol):
    """Streams a chat reply; implementations: local transformers, OpenAI-compatible remote."""

    def model_name(self) -> str: ...

    def stream(
        self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]: ...


class LocalChatBackend:
    """Generates in this process with the manager's chat model."""

    def __init__(self, manager: ModelManager) -> None:
        self._manager = manager
        self._stop_ids: dict[int, list[int]] = {}

    def model_name(self) -> str:
        return self._manager.chat().report.name

    def stream(
        self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]:
        loaded = self._manager.chat()
        key = id(loaded.model)
        if key not in self._stop_ids:
            self._stop_ids[key] = end_token_ids(loaded.tokenizer, loaded.model.generation_config)
        return stream_chat(loaded.model, loaded.tokenizer, messages, params, cancel, self._stop_ids[key])
