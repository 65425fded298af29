"""Chat and embeddings from an OpenAI-compatible server (vLLM, TGI, llama.cpp, another lmdemo).

Implements the same small interfaces as the local backend, so every tab works unchanged
when the settings point at a remote engine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from lmdemo.errors import UserError
from lmdemo.models.coverage import Coverage, letters
from lmdemo.models.types import Chunk, FinishReason, Message, SamplingParams


def _client(base_url: str, api_key: str) -> Any:
    from openai import OpenAI

    return OpenAI(base_url=base_url, api_key=api_key or "none", timeout=120.0, max_retries=1)


def _user_error(error: Exception, base_url: str) -> UserError:
    import openai

    if isinstance(error, openai.RateLimitError):
        return UserError(f"The model server is busy: {error.message}. Please try again in a moment.")
    if isinstance(error, openai.APIStatusError):
        return UserError(f"The model server at {base_url} refused the request ({error.status_code}): {error.message}")
    if isinstance(error, openai.APIConnectionError):
        return UserError(f"Cannot reach the model server at {base_url}: {error}")
    return UserError(f"The model server failed: {error}")


class RemoteChatBackend:
    """Streams chat completions from `base_url`; Stop closes the HTTP stream."""

    engine = "remote"

    def __init__(self, base_url: str, api_key: str, model: str) -> None:
        self._base_url = base_url
        self._client = _client(base_url, api_key)
        self._model = model

    def model_name(self) -> str:
        return f"{self._model} @ {self._base_url}"

    def preload(self) -> None:
        """Nothing to load here: the server holds the model."""

    def close(self) -> None:
        """Nothing runs here between replies."""

    def stream(
        self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None
    ) -> Iterator[Chunk]:
        import openai

        cancel = cancel or threading.Event()
        extra: dict[str, Any] = {"repetition_penalty": params.repetition_penalty}
        if params.top_k > 0 and params.temperature > 0:
            extra["top_k"] = int(params.top_k)
        try:
            response = self._client.chat.completions.create(
                model=self._model,
                messages=list(messages),
                stream=True,
                stream_options={"include_usage": True},
                temperature=max(0.0, params.temperature),
                top_p=params.top_p if params.temperature > 0 else 1.0,
                max_tokens=int(params.max_new_tokens),
                stop=list(params.stop) or None,
                extra_body=extra,
            )
        except openai.OpenAIError as error:
            raise _user_error(error, self._base_url) from error
        prompt_tokens = completion_tokens = 0
        reason: FinishReason = "stop"
        try:
            for event in response:
                if cancel.is_set():
                    yield Chunk("", completion_tokens, prompt_tokens, "cancelled")
                    return
                if event.usage is not None:
                    prompt_tokens = event.usage.prompt_tokens
                    completion_tokens = event.usage.completion_tokens
                for choice in event.choices:
                    if choice.finish_reason == "length":
                        reason = "length"
                    if choice.delta.content:
                        completion_tokens += 1  # an estimate until the server's usage arrives
                        yield Chunk(choice.delta.content, completion_tokens, prompt_tokens)
            yield Chunk("", completion_tokens, prompt_tokens, reason)
        except openai.OpenAIError as error:
            raise _user_error(error, self._base_url) from error
        finally:
            response.close()


class RemoteEmbedder:
    """Embeds through `/v1/embeddings`; passages are still sized with a local tokenizer."""

    def __init__(self, base_url: str, api_key: str, model: str, tokenizer: Callable[[], Any], batch_size: int = 64) -> None:
        self._base_url = base_url
        self._client = _client(base_url, api_key)
        self._model = model
        self._tokenizer = tokenizer
        self._batch_size = batch_size

    def tokenizer(self) -> Any:
        return self._tokenizer()

    def coverage(self, texts: str | Sequence[str]) -> Coverage:
        """Trusted: the remote encoder's vocabulary is not known here (the local tokenizer only sizes passages)."""
        return Coverage(letters(texts), 0)

    def name(self) -> str:
        return f"{self._model} @ {self._base_url}"

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        import openai

        vectors: list[list[float]] = []
        for start in range(0, len(texts), self._batch_size):
            batch = list(texts[start : start + self._batch_size])
            try:
                response = self._client.embeddings.create(model=self._model, input=batch)
            except openai.OpenAIError as error:
                raise _user_error(error, self._base_url) from error
            vectors.extend(item.embedding for item in sorted(response.data, key=lambda item: item.index))
            if progress is not None:
                progress(start + len(batch))
        if not vectors:
            return np.zeros((0, 1), dtype=np.float32)
        matrix = np.asarray(vectors, dtype=np.float32)
        return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
