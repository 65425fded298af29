"""A GGUF chat model in llama.cpp: the weights stay quantized and memory-mapped (the file's size in
RAM, not a dequantized copy), and the tokenizer with the chat template comes from the same file."""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from pathlib import Path

from lmdemo.models.llamacpp.requantize import prompt_ready
from lmdemo.models.loading import LoadedModel, ModelLoadError, ModelReport
from lmdemo.models.sources import gguf_tokenizer, resolve

log = logging.getLogger(__name__)

_backend_lock = threading.Lock()
_backend_ready = False


def llamacpp_problem() -> str | None:
    """Why the llama.cpp engine cannot run here (llama-cpp-python missing or broken), or None."""
    try:
        import llama_cpp  # noqa: F401
    except Exception as error:  # a broken native library raises more than ImportError
        return f"llama-cpp-python is not usable ({type(error).__name__}: {error})"
    return None


def physical_cores() -> int:
    """Cores, not hyper-threads: llama.cpp's matrix kernels gain nothing from a core's second thread."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def _init_backend() -> None:
    global _backend_ready
    with _backend_lock:
        if not _backend_ready:
            import llama_cpp

            # llama-cpp-python prints every llama.cpp log line to stderr unless its logger says otherwise.
            logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
            llama_cpp.llama_backend_init()
            _backend_ready = True


class LlamaCppModel:
    """The loaded GGUF: weights, vocabulary, and the facts the engine sizes itself by.

    `piece` reuses one buffer: call it from one thread (the batching loop) only.
    """

    def __init__(self, path: Path) -> None:
        import llama_cpp as lc

        _init_backend()
        params = lc.llama_model_default_params()
        params.use_mmap = True
        self.path = path
        self.model = lc.llama_model_load_from_file(str(path).encode(), params)
        if not self.model:
            raise ModelLoadError(f"llama.cpp could not load {path.name}: not a GGUF model it understands")
        self.vocab = lc.llama_model_get_vocab(self.model)
        self.n_vocab = int(lc.llama_vocab_n_tokens(self.vocab))
        self.context_length = int(lc.llama_model_n_ctx_train(self.model))
        self.size_bytes = int(lc.llama_model_size(self.model))
        self.n_params = int(lc.llama_model_n_params(self.model))
        head_dim = lc.llama_model_n_embd(self.model) // max(lc.llama_model_n_head(self.model), 1)
        self.kv_values_per_token = 2 * lc.llama_model_n_layer(self.model) * lc.llama_model_n_head_kv(self.model) * head_dim
        description = ctypes.create_string_buffer(256)
        lc.llama_model_desc(self.model, description, len(description))
        self.description = description.value.decode("utf-8", "replace")
        self._piece = ctypes.create_string_buffer(64)

    def is_end(self, token: int) -> bool:
        """End-of-generation tokens as the model's own vocabulary marks them (EOS, EOT, <|im_end|>, …)."""
        import llama_cpp as lc

        return bool(lc.llama_vocab_is_eog(self.vocab, token))

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (special tokens render as nothing); may be part of a character."""
        import llama_cpp as lc

        n = lc.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        if n < 0:
            self._piece = ctypes.create_string_buffer(-n)
            n = lc.llama_token_to_piece(self.vocab, token, self._piece, len(self._piece), 0, False)
        return self._piece.raw[:n]

    def close(self) -> None:
        import llama_cpp as lc

        if self.model:
            lc.llama_model_free(self.model)
            self.model = None


def load_llamacpp_chat(spec: str, *, cache_dir: Path, requantize: bool = True) -> LoadedModel:
    """A GGUF chat model for the llama.cpp engine, with its tokenizer (for the chat template) and report;
    `requantize`: serve a copy in a format with fast prompt kernels where the file has none."""
    started = time.perf_counter()
    source = resolve(spec)
    if source.gguf_file is None:
        raise ModelLoadError(f"{spec!r} is not a GGUF model; the llama.cpp engine runs .gguf files")
    problem = llamacpp_problem()
    if problem is not None:
        raise ModelLoadError(f"{problem}; run `make install`, or use --engine transformers")
    _init_backend()  # its log level also quiets the quantizer
    served, done = source.gguf_file, ""
    if requantize:
        try:
            served, done = prompt_ready(source.gguf_file, cache_dir)
        except (OSError, RuntimeError) as error:  # e.g. a full disk: the file as it is still serves
            log.warning("serving %s as it is: %s", source.gguf_file.name, error)
            done = f"not re-quantized ({error})"
    model = LlamaCppModel(served)
    tokenizer = gguf_tokenizer(source.gguf_file, cache_dir)
    if tokenizer.chat_template is None:
        raise ModelLoadError(f"{spec!r} has no chat template; choose an instruct/chat model")
    quant = model.description.split(" ", 2)[-1]  # "llama 256M Q4_K - Medium": after the arch and size
    report = ModelReport(
        role="chat",
        name=source.name,
        spec=source.spec,
        device="cpu",
        dtype=f"{quant} (GGUF)",
        quantization=quant,
        footprint_mb=round(model.size_bytes / 2**20, 1),
        load_seconds=round(time.perf_counter() - started, 2),
        note=f"{model.description}; weights memory-mapped" + (f"; {done}" if done else ""),
        engine="llama.cpp",
    )
    return LoadedModel(model, tokenizer, report)
