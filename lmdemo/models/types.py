"""Plain data shared by the serving layer, the services and the UI (no torch here)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from lmdemo.settings import KvCache

Message = dict[str, str]
FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class SamplingParams:
    """Per-request sampling settings; temperature 0 means greedy decoding; `stop` strings end the reply."""

    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 50
    max_new_tokens: int = 512
    repetition_penalty: float = 1.1
    stop: tuple[str, ...] = ()
    repetition_guard: bool = False  # end the reply where it starts to loop (lmdemo/models/repetition.py)
    restatement_guard: bool = False  # with it, also where a sentence restates earlier ones (short answers)

    def generate_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for transformers' `generate`."""
        kwargs: dict[str, Any] = {
            "max_new_tokens": max(1, int(self.max_new_tokens)),
            "repetition_penalty": float(self.repetition_penalty),
        }
        if self.temperature <= 0:
            return {**kwargs, "do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        return {
            **kwargs,
            "do_sample": True,
            "temperature": float(self.temperature),
            "top_p": float(self.top_p),
            "top_k": int(self.top_k),
        }


@dataclass(frozen=True)
class Chunk:
    """A piece of streamed text; the last chunk of a stream carries the finish reason."""

    text: str
    completion_tokens: int
    prompt_tokens: int
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class BatchingConfig:
    """Sizes of a batching loop and its KV cache; see `Settings` for the defaults.

    `prefill_chunk_tokens` (llama.cpp engine): prompt tokens a step may add while replies are
    decoding, so a long prompt is prefilled in pieces between their tokens. `kv_cache` (llama.cpp
    engine): how keys and values are stored, see lmdemo/models/llamacpp/batching.py.
    """

    max_running: int = 8
    max_waiting: int = 40
    kv_cache_tokens: int = 16384
    max_batch_tokens: int = 512
    prefill_chunk_tokens: int = 128
    kv_cache: KvCache = "f16"
