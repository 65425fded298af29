"""A lazy, cached, thread-safe registry of the loaded models.

Models are shared by every user (they hold no per-user state); a per-role lock makes two
users who ask at once wait for one load instead of loading twice.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import cached_property

from lmdemo.models.llamacpp.model import LlamaCppModel, llamacpp_problem, load_llamacpp_chat
from lmdemo.models.loading import (
    LoadedModel,
    ModelLoadError,
    ModelReport,
    load_causal_lm,
    load_encoder,
    load_encoder_transformer,
    load_nli,
    resolve_device,
)
from lmdemo.models.memory import out_of_memory_guard
from lmdemo.models.sources import resolve
from lmdemo.runtime import cpu_has_bf16, encoder_in_bf16
from lmdemo.settings import Settings

log = logging.getLogger(__name__)


ROLES = ("chat-gguf", "chat", "encoder", "nli", "chat-eager", "chat-states", "encoder-eager")


class ModelManager:
    """Loads each configured model on first use and keeps it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._models: dict[str, LoadedModel] = {}
        self._locks: dict[str, threading.Lock] = {role: threading.Lock() for role in ROLES}

    def _get(self, role: str, load: Callable[[], LoadedModel]) -> LoadedModel:
        loaded = self._models.get(role)
        if loaded is not None:
            return loaded
        with self._locks[role]:
            loaded = self._models.get(role)
            if loaded is None:
                with out_of_memory_guard(
                    f"loading the {role} model",
                    "Try --quantization 4bit, a smaller model, or fewer models at once.",
                ):
                    loaded = load()
                self._models[role] = loaded
                r = loaded.report
                log.info(
                    "loaded %s model %s on %s (%s, quantization %s): %.1f MB in %.2f s %s",
                    role, r.name, r.device, r.dtype, r.quantization, r.footprint_mb, r.load_seconds, r.note,
                )
        return loaded

    @property
    def settings(self) -> Settings:
        return self._settings

    def _load_options(self, device: str) -> dict:
        s = self._settings
        return {
            "device": device,
            "quantization": s.quantization,
            "cache_dir": s.cache_dir,
            "trust_remote_code": s.trust_remote_code,
        }

    def _chat_options(self) -> dict:
        return {**self._load_options(self._settings.device), "cpu_decode": self._settings.cpu_decode}

    def _encoder_options(self) -> dict:
        return self._load_options(self._settings.encoder_placement)

    @cached_property
    def chat_engine(self) -> str:
        """What serves chat: `llamacpp` for a GGUF model on the CPU when llama-cpp-python is installed
        (`--engine auto`), else `transformers` (always on a GPU, with bitsandbytes, on ZeroGPU)."""
        s = self._settings
        if s.engine == "transformers" or s.zero_gpu or s.remote:
            return "transformers"
        gguf = resolve(s.chat_model).gguf_file is not None
        on_cpu = resolve_device(s.device) == "cpu"
        problem = llamacpp_problem()
        if s.engine == "llamacpp":
            if not gguf:
                raise ModelLoadError(f"--engine llamacpp runs GGUF models; {s.chat_model!r} is not one")
            if not on_cpu or s.quantization != "none":
                raise ModelLoadError("--engine llamacpp runs on the CPU without --quantization; use --engine transformers")
            if problem is not None:
                raise ModelLoadError(f"--engine llamacpp: {problem}")
            return "llamacpp"
        return "llamacpp" if gguf and on_cpu and s.quantization == "none" and problem is None else "transformers"

    def gguf_chat(self) -> LoadedModel:
        """The chat model in llama.cpp (the GGUF file, or its re-quantized copy, memory-mapped)."""
        return self._get("chat-gguf", lambda: load_llamacpp_chat(
            self._settings.chat_model, cache_dir=self._settings.cache_dir,
            requantize=self._settings.gguf_requantize == "auto"))

    def chat(self) -> LoadedModel:
        """The GPT-style chat model in transformers: what chats, or, when llama.cpp chats, the Lab's copy
        (loaded only when the Lab is used; it runs whole prompts, so it needs no fp16 decoding copies)."""
        if self.chat_engine == "llamacpp":
            def load() -> LoadedModel:
                options = {**self._chat_options(), "cpu_decode": "fp32"}
                loaded = load_causal_lm(self._settings.local_chat_model, **options)
                return LoadedModel(loaded.model, loaded.tokenizer, replace(loaded.report, role="Lab (transformers copy)"))

            return self._get("chat", load)
        return self._get("chat", lambda: load_causal_lm(self._settings.local_chat_model, **self._chat_options()))

    def encoder(self) -> LoadedModel:
        """The BERT-style sentence encoder."""
        return self._get("encoder", lambda: load_encoder(
            self._settings.encoder_model, cpu_bf16=encoder_in_bf16(self._settings.encoder_dtype),
            **self._encoder_options()))

    def nli(self) -> LoadedModel:
        """The optional NLI model for zero-shot classification (`settings.zero_shot_model`)."""
        return self._get("nli", lambda: load_nli(self._settings.zero_shot_model, **self._encoder_options()))

    def chat_eager(self) -> LoadedModel:
        """A second copy of the chat model with eager attention, loaded only when the Lab needs it.

        It only runs whole prompts (attention maps), so it needs no fp16 copies for decoding.
        """
        return self._get(
            "chat-eager",
            lambda: load_causal_lm(
                self._settings.local_chat_model, attn_implementation="eager", cpu_decode="fp32",
                **self._load_options(self._settings.device),
            ),
        )

    def chat_states(self) -> LoadedModel:
        """A transformers copy of a GGUF chat model that only reads prompts into hidden states
        (few-shot), loaded when first asked; in bf16 on a CPU that has it (4x fp32 speed here)."""

        def load() -> LoadedModel:
            loaded = load_causal_lm(self._settings.local_chat_model, cpu_decode="fp32",
                                    **self._load_options(self._settings.device))
            report = loaded.report
            if report.device == "cpu" and report.quantization == "none" and cpu_has_bf16():
                import torch

                loaded.model.to(torch.bfloat16)
                report = replace(report, dtype="bfloat16", footprint_mb=round(report.footprint_mb / 2, 1))
            return LoadedModel(loaded.model, loaded.tokenizer, replace(report, role="chat (hidden states)"))

        return self._get("chat-states", load)

    def encoder_eager(self) -> LoadedModel:
        """The encoder's transformer with eager attention, loaded only when the Lab needs it."""
        return self._get(
            "encoder-eager", lambda: load_encoder_transformer(self._settings.encoder_model, **self._encoder_options())
        )

    def close(self) -> None:
        """Forget every loaded model; llama.cpp's weights are unmapped now, the rest go at the next collection."""
        with self._lock_all():
            for loaded in self._models.values():
                if isinstance(loaded.model, LlamaCppModel):
                    loaded.model.close()
            self._models.clear()

    @contextmanager
    def _lock_all(self) -> Iterator[None]:
        for lock in self._locks.values():
            lock.acquire()
        try:
            yield
        finally:
            for lock in self._locks.values():
                lock.release()

    def reports(self) -> list[ModelReport]:
        """Reports of the models loaded so far, chat first."""
        return [self._models[role].report for role in ROLES if role in self._models]
