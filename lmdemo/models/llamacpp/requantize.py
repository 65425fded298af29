"""A GGUF whose weights have no fast prompt kernels in llama.cpp's CPU backend, re-quantized once.

llama.cpp multiplies a Q4_1 prompt with generic kernels: on one 2-core Xeon the packaged SmolLM2
(Q4_1) took 8.5 s to read 1,000 tokens of a paper, 4.6 s once re-quantized to Q4_K_M (which falls
back to Q5_0 for the rows K-quants cannot take), and decoded faster too, at the same perplexity
(bench/chat_speed.py --engines). The copy is made with llama.cpp's own quantizer in a
few seconds and kept in the cache; `--gguf-requantize off` serves the file as it is.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

from lmdemo.models.sources import build_once, cache_key

log = logging.getLogger(__name__)

# general.file_type of weights llama.cpp reads prompts slowly in → (its name, the copy's name, llama_ftype).
REQUANTIZE = {3: ("Q4_1", "Q4_K_M", 15)}  # LLAMA_FTYPE_MOSTLY_Q4_1 → LLAMA_FTYPE_MOSTLY_Q4_K_M


def file_type(gguf: Path) -> int | None:
    """The GGUF's `general.file_type` (which quantization most of its weights use), if it says;
    None for a file gguf cannot read either (llama.cpp then says what is wrong with it)."""
    from gguf import GGUFReader

    try:
        field = GGUFReader(gguf).fields.get("general.file_type")
    except (ValueError, OSError):
        return None
    return int(field.parts[field.data[0]][0]) if field is not None else None


def prompt_ready(gguf: Path, cache_dir: Path) -> tuple[Path, str]:
    """The file to serve: `gguf` itself, or its re-quantized copy; and what was done, for the report."""
    kind = file_type(gguf)
    if kind not in REQUANTIZE:
        return gguf, ""
    was, name, ftype = REQUANTIZE[kind]
    file_name = f"{gguf.stem}.{name}.gguf"

    def quantize(folder: Path) -> None:
        import llama_cpp as lc

        log.info("re-quantizing %s from %s to %s (once)", gguf.name, was, name)
        params = lc.llama_model_quantize_default_params()
        params.ftype = ftype
        params.allow_requantize = True
        if lc.llama_model_quantize(str(gguf).encode(), str(folder / file_name).encode(), ctypes.byref(params)) != 0:
            raise RuntimeError(f"llama.cpp could not re-quantize {gguf.name} to {name}")

    folder = build_once(cache_dir / "requantized" / f"{cache_key(gguf)}-{name}", file_name, quantize)
    return folder / file_name, f"re-quantized from {was} to {name} for faster prompts"
