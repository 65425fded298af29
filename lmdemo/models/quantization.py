"""bitsandbytes wiring: the config for 8-bit / 4-bit NF4 and whether it can be used here."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from transformers import BitsAndBytesConfig

from lmdemo.settings import Quantization


def silence_bitsandbytes() -> None:
    """bitsandbytes logs a warning on every 8-bit matmul with fp32 inputs, and on AVX512-BF16 CPUs one
    at import suggesting a kernel package that downloads from the hub; keep errors only."""
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)


def bitsandbytes_problem() -> str | None:
    """Why bitsandbytes cannot quantize here, or None when it can."""
    silence_bitsandbytes()
    try:
        import bitsandbytes  # noqa: F401
    except Exception as error:  # a broken native library raises more than ImportError
        return f"bitsandbytes is not usable ({type(error).__name__}: {error})"
    return None


def compute_dtype(device: str) -> torch.dtype:
    """bf16 where the hardware has it (recent GPUs, AVX512-BF16 CPUs), else fp16 on GPU, fp32 on CPU."""
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16


def bnb_config(
    quantization: Quantization, device: str, skip_modules: Sequence[str] = ()
) -> BitsAndBytesConfig | None:
    """The BitsAndBytesConfig for a mode; `skip_modules` stay in full precision (e.g. a classifier head)."""
    if quantization == "none":
        return None
    skip = list(skip_modules) or None
    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)
    if quantization == "4bit":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=compute_dtype(device),
            llm_int8_skip_modules=skip,
        )
    raise ValueError(f"unknown quantization {quantization!r}")
