"""Multi-turn chat: assemble the conversation, stream the reply, measure it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lmdemo.errors import UserError
from lmdemo.models.types import FinishReason, Message, SamplingParams
from lmdemo.settings import DEFAULT_SYSTEM_PROMPT, DEFAULT_SYSTEM_PROMPT_ZH
from lmdemo.text import clean_user_text
from lmdemo.words import is_chinese

if TYPE_CHECKING:
    from lmdemo.models.backend import ChatBackend


@dataclass(frozen=True)
class ReplyStats:
    """How one reply went: shown under it in the UI and logged."""

    model: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float
    first_token_seconds: float
    finish_reason: FinishReason

    @property
    def tokens_per_second(self) -> float:
        decode_time = self.seconds - self.first_token_seconds
        if self.completion_tokens <= 1 or decode_time <= 0:
            return 0.0
        return (self.completion_tokens - 1) / decode_time

    def log_fields(self) -> dict[str, object]:
        """What the request log records of a reply (never its text)."""
        return {
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "first_token_s": round(self.first_token_seconds, 3),
            "finish": self.finish_reason,
        }

    def summary(self) -> str:
        parts = [
            f"{self.completion_tokens} tokens",
            f"{self.tokens_per_second:.1f} tok/s",
            f"first token {self.first_token_seconds:.2f} s",
            self.model,
        ]
        if self.finish_reason == "cancelled":
            parts.append("stopped")
        elif self.finish_reason == "length":
            parts.append("hit the max new tokens")
        return " · ".join(parts)


@dataclass(frozen=True)
class ReplyUpdate:
    """The reply so far; `stats` is set on the last update only."""

    text: str
    stats: ReplyStats | None = None


def system_for(system_prompt: str, message: str) -> str:
    """The system prompt, the app's default one in the question's language (one the user wrote is kept)."""
    if system_prompt.strip() == DEFAULT_SYSTEM_PROMPT and is_chinese(message):
        return DEFAULT_SYSTEM_PROMPT_ZH
    return system_prompt


def build_messages(system_prompt: str, history: Sequence[Message], message: str) -> list[Message]:
    """System prompt (if any), the earlier turns, then the new user message."""
    messages: list[Message] = []
    system_prompt = system_for(system_prompt, message)
    if system_prompt.strip():
        messages.append({"role": "system", "content": clean_user_text(system_prompt).strip()})
    for turn in history:
        if turn.get("role") in ("user", "assistant") and isinstance(turn.get("content"), str):
            messages.append({"role": turn["role"], "content": turn["content"]})
    messages.append({"role": "user", "content": message})
    return messages


class ChatService:
    """Streams replies from whichever backend the settings chose."""

    def __init__(self, backend: ChatBackend) -> None:
        self._backend = backend

    def model_name(self) -> str:
        return self._backend.model_name()

    def _backend_for(self, model: str | None) -> ChatBackend:
        """The default chat model, or a loaded one by name (the pool routes it and counts its replies)."""
        return self._backend.route(model) if model else self._backend  # type: ignore[attr-defined]

    def reply(
        self,
        message: str,
        history: Sequence[Message],
        system_prompt: str,
        params: SamplingParams,
        cancel: threading.Event | None = None,
        model: str | None = None,
    ) -> Iterator[ReplyUpdate]:
        """Yield the growing reply; closing the iterator stops generation."""
        message = clean_user_text(message).strip()
        if not message:
            raise UserError("Type a message first.", "请先输入消息。")
        return self.complete(build_messages(system_prompt, history, message), params, cancel, model)

    def complete(
        self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None,
        model: str | None = None,
    ) -> Iterator[ReplyUpdate]:
        """Yield the growing reply to a whole conversation (the OpenAI-style entry point)."""
        backend = self._backend_for(model)
        name = backend.model_name()  # now: the model may be switched or unloaded before the reply ends
        started = time.perf_counter()
        first_token = 0.0
        text = ""
        stream = backend.stream(messages, params, cancel)
        try:
            for chunk in stream:
                if chunk.text and not text:
                    first_token = time.perf_counter() - started
                text += chunk.text
                if chunk.finish_reason is None:
                    yield ReplyUpdate(text)
                    continue
                stats = ReplyStats(
                    model=name,
                    prompt_tokens=chunk.prompt_tokens,
                    completion_tokens=chunk.completion_tokens,
                    seconds=time.perf_counter() - started,
                    first_token_seconds=first_token,
                    finish_reason=chunk.finish_reason,
                )
                yield ReplyUpdate(text, stats)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
