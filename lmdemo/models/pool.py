"""The models the app serves, switchable while it runs: chat models with their backends, one encoder.

Each chat model (a spec at a quantization on an engine) has its own ModelManager and backend.
One is the default, which Document QA, summaries and zero-shot use; a Chat session may pick any
loaded one. Switching or unloading never cuts a reply short: a model that leaves the pool is
retired, and closed (its loop stopped, its memory freed) when its last reply ends. The pool
also stands in for a ModelManager (`chat()`, `encoder()`, `reports()`, …), answering with the
current default chat model and encoder, so the services and the Lab follow a switch.
"""

from __future__ import annotations

import ctypes
import gc
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
from lmdemo.errors import UserError
from lmdemo.models.embedding import encoder_identity
from lmdemo.models.loading import LoadedModel, ModelReport
from lmdemo.models.manager import ModelManager
from lmdemo.models.priority import Foreground
from lmdemo.models.repetition import guard_repetition
from lmdemo.models.sources import resolve
from lmdemo.models.types import Chunk, Message, SamplingParams
from lmdemo.settings import Settings

if TYPE_CHECKING:
    from lmdemo.models.backend import ChatBackend

log = logging.getLogger(__name__)

ENGINE_NAMES = {"llamacpp": "llama.cpp", "transformers": "transformers"}


@dataclass(frozen=True)
class Variant:
    """A way to load a model: which files, at which quantization, on which engine."""

    spec: str
    quantization: str = "none"
    engine: str = "auto"


def release_memory() -> None:
    """Collect what was dropped and hand freed heap pages back to the system (RSS falls)."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:  # not glibc: the allocator keeps the pages for reuse
        pass


class _Chat:
    """One loaded chat model: its manager, its backend, and how many replies are using it."""

    def __init__(self, key: str, variant: Variant, manager: ModelManager, backend: ChatBackend) -> None:
        self.key, self.variant, self.manager, self.backend = key, variant, manager, backend
        self._active = 0
        self._retired = False
        self._lock = threading.Lock()

    @contextmanager
    def use(self) -> Iterator[ChatBackend]:
        with self._lock:
            self._active += 1
        try:
            yield self.backend
        finally:
            with self._lock:
                self._active -= 1
                close = self._retired and self._active == 0
            if close:
                self.close()

    def retire(self) -> None:
        """Leave the pool; close now if idle, else when the last reply ends."""
        with self._lock:
            self._retired = True
            close = self._active == 0
        if close:
            self.close()

    def close(self) -> None:
        self.backend.close()
        self.manager.close()
        self.backend = None  # type: ignore[assignment]
        release_memory()
        log.info("unloaded chat model %s", self.key)


class _Route:
    """One loaded chat model as a ChatBackend; a reply started here keeps it alive until it ends."""

    def __init__(self, pool: ModelPool, key: str) -> None:
        self._pool, self._key = pool, key

    @property
    def engine(self) -> str:
        return self._pool.backend(self._key).engine

    def model_name(self) -> str:
        return self._pool.model_name(self._key)

    def preload(self) -> None:
        self._pool.backend(self._key).preload()

    def close(self) -> None:
        """The pool closes its models."""

    def stream(self, messages: Sequence[Message], params: SamplingParams,
               cancel: threading.Event | None = None) -> Iterator[Chunk]:
        return self._pool.stream(messages, params, cancel, model=self._key)


class ModelPool:
    """Chat models and the encoder, loadable, switchable and unloadable at runtime."""

    def __init__(self, settings: Settings, backend_for: Callable[[ModelManager], ChatBackend]) -> None:
        self._base = settings
        self._backend_for = backend_for
        self._lock = threading.RLock()
        self._chats: dict[str, _Chat] = {}
        self._default = ""
        self._encoder = ModelManager(settings)
        self.foreground = Foreground()
        self._add(Variant(settings.chat_model, settings.quantization, settings.engine))

    # --- the pool ------------------------------------------------------------------------

    def _new_chat(self, variant: Variant) -> _Chat:
        """A chat model ready to load (its manager decides the engine; nothing is loaded yet)."""
        manager = ModelManager(replace(self._base, chat_model=variant.spec, quantization=variant.quantization,
                                       engine=variant.engine))
        engine = "remote" if self._base.remote else ENGINE_NAMES[manager.chat_engine]
        quantization = "GGUF" if engine == "llama.cpp" else variant.quantization
        key = f"{resolve(variant.spec).name} · {engine} · {quantization}" if not self._base.remote else variant.spec
        return _Chat(key, variant, manager, self._backend_for(manager))

    def _add(self, variant: Variant) -> _Chat:
        chat = self._new_chat(variant)
        with self._lock:
            self._chats[chat.key] = chat
            self._default = self._default or chat.key
        return chat

    def _chat(self, key: str | None = None) -> _Chat:
        with self._lock:
            chosen = key or self._default
            if chosen not in self._chats:
                loaded = ", ".join(self._chats) or "none"
                raise UserError(f"The chat model {chosen!r} is not loaded (loaded: {loaded}). Pick another.")
            return self._chats[chosen]

    def route(self, key: str) -> _Route:
        """A ChatBackend for one loaded chat model, through the pool (so its replies are counted)."""
        self._chat(key)
        return _Route(self, key)

    def backend(self, key: str | None = None) -> ChatBackend:
        """What serves a loaded chat model (the default when `key` is None)."""
        return self._chat(key).backend

    def reads_states(self) -> bool:
        """Whether the default chat model runs here, so prompts can be read into its hidden states."""
        from lmdemo.models.backend import PromptStates

        return isinstance(self._chat().backend, PromptStates)

    def read_states(self, prompts: Sequence[str]) -> tuple[str, np.ndarray]:
        """The default chat model's hidden state at each prompt's last token, and the model's key."""
        from lmdemo.models.backend import PromptStates

        chat = self._chat()
        with chat.use() as backend:
            if not isinstance(backend, PromptStates):
                raise UserError(f"The chat model {chat.key} runs elsewhere (remote or one GPU call per reply), so its "
                                "hidden states cannot be read here.")
            return chat.key, backend.last_token_states(prompts)

    def memory_mb(self, key: str) -> float:
        """What one loaded chat model takes (its weights, and the Lab's copy if loaded)."""
        return sum(report.footprint_mb for report in self._chat(key).manager.reports())

    def chat_models(self) -> list[str]:
        """Keys of the loaded chat models, the default first."""
        with self._lock:
            return [self._default] + [key for key in self._chats if key != self._default]

    @property
    def default_chat(self) -> str:
        return self._default

    def load_chat(self, variant: Variant, make_default: bool = True) -> str:
        """Load a chat model now (its weights, its loop) and return its key; the old default stays
        loaded while the pool has room (`max_loaded_models`), else it is retired."""
        chat = self._new_chat(variant)
        limit = self._base.max_loaded_models
        with self._lock:
            if chat.key in self._chats:
                raise UserError(f"{chat.key} is loaded already.")
            full = len(self._chats) >= limit
            if full and limit > 1:
                raise UserError(
                    f"{len(self._chats)} chat models are loaded, the most this app keeps (--max-loaded-models "
                    f"{limit}); unload one first: {', '.join(self._chats)}."
                )
            self._chats[chat.key] = chat
        try:
            chat.backend.preload()
        except Exception:
            with self._lock:
                self._chats.pop(chat.key, None)
            chat.retire()
            raise
        with self._lock:
            previous = self._default
            if make_default or full:
                self._default = chat.key
            if full and previous != chat.key:
                self._chats.pop(previous).retire()
        return chat.key

    def set_default(self, key: str) -> None:
        with self._lock:
            self._chat(key)
            self._default = key

    def unload_chat(self, key: str) -> None:
        with self._lock:
            chat = self._chat(key)
            if len(self._chats) == 1:
                raise UserError("This is the only chat model loaded; load another first, then unload this one.")
            del self._chats[key]
            if self._default == key:
                self._default = next(iter(self._chats))
        chat.retire()

    def load_encoder(self, variant: Variant) -> str:
        """Switch the encoder: the new one is loaded first, then the old one is dropped."""
        manager = ModelManager(replace(self._base, encoder_model=variant.spec, quantization=variant.quantization))
        manager.encoder()
        with self._lock:
            old, self._encoder = self._encoder, manager
        old.close()
        release_memory()
        return self.encoder_name()

    def encoder_name(self) -> str:
        return encoder_identity(self._encoder.encoder().report)

    # --- ChatBackend, over the default chat model (or a named one) ----------------------------

    @property
    def engine(self) -> str:
        return self._chat().backend.engine

    def model_name(self, key: str | None = None) -> str:
        return self._chat(key).backend.model_name()

    def preload(self) -> None:
        self._chat().backend.preload()

    def stream(self, messages: Sequence[Message], params: SamplingParams, cancel: threading.Event | None = None,
               model: str | None = None) -> Iterator[Chunk]:
        with self.foreground.active(), self._chat(model).use() as backend:
            stream = backend.stream(messages, params, cancel)
            yield from guard_repetition(stream, params.restatement_guard) if params.repetition_guard else stream

    # --- ModelManager, over the default chat model and the encoder ---------------------------

    @property
    def settings(self) -> Settings:
        default = self._chat().variant
        return replace(self._base, chat_model=default.spec, quantization=default.quantization,
                       encoder_model=self._encoder.settings.encoder_model)

    @property
    def chat_engine(self) -> str:
        return self._chat().manager.chat_engine

    def chat(self) -> LoadedModel:
        return self._chat().manager.chat()

    def gguf_chat(self) -> LoadedModel:
        return self._chat().manager.gguf_chat()

    def chat_eager(self) -> LoadedModel:
        return self._chat().manager.chat_eager()

    def encoder(self) -> LoadedModel:
        return self._encoder.encoder()

    def nli(self) -> LoadedModel:
        return self._encoder.nli()

    def encoder_eager(self) -> LoadedModel:
        return self._encoder.encoder_eager()

    def reports(self) -> list[ModelReport]:
        """What is loaded now: each chat model's reports (the default first), then the encoder's."""
        rows = []
        for key in self.chat_models():
            chat = self._chats.get(key)
            if chat is not None:
                rows += chat.manager.reports()
        return rows + self._encoder.reports()

