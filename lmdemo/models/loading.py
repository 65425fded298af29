"""Load causal LMs, sentence encoders and sequence classifiers on the right device, dtype and quantization.

Only safetensors weights are read and remote code is off unless the settings turn it on.
If bitsandbytes cannot quantize here, the model loads unquantized and the report says why.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import torch

from lmdemo.errors import UserError
from lmdemo.models.cpu_linear import speed_up_linears
from lmdemo.models.generation import prompt_ids
from lmdemo.models.quantization import (
    bitsandbytes_problem,
    bnb_config,
    silence_bitsandbytes,
)
from lmdemo.models.sources import ModelSource, gguf_to_safetensors, resolve
from lmdemo.settings import CpuDecode, Quantization

log = logging.getLogger(__name__)

T = TypeVar("T")

CLASSIFIER_HEADS = ("classifier", "score", "pre_classifier")
CALIBRATION_PROMPT = "Explain in two sentences why the sky is blue, then give one example in French."


class ModelLoadError(UserError, RuntimeError):
    """A model could not be loaded; the message is meant for the user."""


@dataclass(frozen=True)
class ModelReport:
    """What was loaded and what it costs, shown in the UI and logged at start-up."""

    role: str
    name: str
    spec: str
    device: str
    dtype: str
    quantization: str
    footprint_mb: float
    load_seconds: float
    note: str = ""
    engine: str = "transformers"


@dataclass
class LoadedModel:
    """A model with its tokenizer and its report."""

    model: Any
    tokenizer: Any
    report: ModelReport


def resolve_device(device: str) -> str:
    """`auto` → cuda when present; asking for cuda without one is an error, not a silent CPU run."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("--device cuda was asked for, but no CUDA GPU is visible; use --device cpu")
    return device


def prefer_flash_sdpa(device: str) -> None:
    """Keep PyTorch's scaled-dot-product attention off the cuDNN backend on a GPU.

    PyTorch picks cuDNN attention on Hopper, which builds a new graph for every key length: about
    2 ms of CPU per layer per decode step. Measured on an H100 with the packaged 135M model:
    batch-1 decode 10.5 -> 28.8 tok/s and 16 concurrent replies 122 -> 310 tok/s with it off
    (flash / memory-efficient kernels instead). Process-wide, which is what the app wants.
    """
    if device == "cuda":
        torch.backends.cuda.enable_cudnn_sdp(False)


def _plain_dtype(device: str) -> torch.dtype:
    """Unquantized weights: fp32 on CPU (fastest there in eager mode), half precision on GPU."""
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _footprint_mb(model: torch.nn.Module) -> float:
    tensors = list(model.parameters()) + list(model.buffers())
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def _copy_out_of_the_file(model: Any) -> None:
    """Give the layers bitsandbytes left unquantized (embeddings, norms) their own memory.

    On a CPU they are views into the memory-mapped safetensors file, and while one view lives the
    whole mapping does: every page the quantizer read stays resident, which more than doubled the
    RSS of a quantized model (SmolLM2-135M 8-bit: 595 MB, 298 MB after this).
    """
    for tensor in [*model.parameters(), *model.buffers()]:
        if tensor.dtype.is_floating_point:
            tensor.data = tensor.data.clone()


def _load_with_fallback(
    load: Callable[[dict[str, Any]], T], quantization: Quantization, device: str, skip: Sequence[str] = ()
) -> tuple[T, str, str]:
    """Call `load(kwargs)` quantized; if bitsandbytes is missing or fails, load unquantized.

    Returns the model, the quantization actually used, and a note for the report.
    """
    plain = {"dtype": _plain_dtype(device)}
    if quantization == "none":
        return load(plain), "none", ""
    problem = bitsandbytes_problem()
    if problem is None:
        silence_bitsandbytes()
        kwargs = {"quantization_config": bnb_config(quantization, device, skip), "device_map": device}
        kwargs["dtype"] = torch.float32 if device == "cpu" else _plain_dtype(device)
        try:
            model = load(kwargs)
            if device == "cpu":
                _copy_out_of_the_file(model)
            return model, quantization, ""
        except (ImportError, RuntimeError, ValueError) as error:
            problem = f"{quantization} loading failed ({type(error).__name__}: {error})"
    note = f"{problem}; loaded unquantized instead"
    log.warning(note)
    return load(plain), "none", note


def _source_folder(spec: str, cache_dir: Path) -> ModelSource:
    source = resolve(spec)
    if source.gguf_file is not None:
        converted = gguf_to_safetensors(source.gguf_file, cache_dir)
        return ModelSource(source.spec, str(converted), source.name)
    return source


def _report(role: str, source: ModelSource, model: torch.nn.Module, device: str, quant: str,
            seconds: float, note: str) -> ModelReport:
    dtype = next(model.parameters()).dtype
    return ModelReport(
        role=role,
        name=source.name,
        spec=source.spec,
        device=device,
        dtype=str(dtype).removeprefix("torch."),
        quantization=quant,
        footprint_mb=round(_footprint_mb(model), 1),
        load_seconds=round(seconds, 2),
        note=note,
    )


Build = Callable[[str, str, dict[str, Any]], Any]


def _hf_build(auto_class: Any, trust_remote_code: bool, **extra: Any) -> Build:
    """`from_pretrained` for a transformers Auto class: safetensors only, on the device, in eval mode."""

    def build(location: str, device: str, kwargs: dict[str, Any]) -> Any:
        model = auto_class.from_pretrained(
            location, use_safetensors=True, trust_remote_code=trust_remote_code, **extra, **kwargs
        )
        return (model if "device_map" in kwargs else model.to(device)).eval()

    return build


def _auto_tokenizer(trust_remote_code: bool) -> Callable[[str, Any], Any]:
    from transformers import AutoTokenizer

    return lambda location, model: AutoTokenizer.from_pretrained(location, trust_remote_code=trust_remote_code)


# transformers builds a model under a process-wide "empty weights" (meta device) context, so two
# loads at once (a preload and a user's first request) can leave one with meta tensors.
_LOADING = threading.Lock()


def _new_loading_lock() -> None:
    """A forked ZeroGPU worker loads models too; it must not inherit a lock its parent holds."""
    global _LOADING
    _LOADING = threading.Lock()


os.register_at_fork(after_in_child=_new_loading_lock)


def _load(
    role: str,
    spec: str,
    device: str,
    quantization: Quantization,
    cache_dir: Path,
    build: Build,
    tokenizer: Callable[[str, Any], Any],
    skip: Sequence[str] = (),
) -> LoadedModel:
    """Resolve, load (quantized when asked, with fallback), fetch the tokenizer, and report."""
    started = time.perf_counter()
    device = resolve_device(device)
    prefer_flash_sdpa(device)
    source = _source_folder(spec, cache_dir)
    try:
        with _LOADING:
            model, used, note = _load_with_fallback(
                lambda kwargs: build(source.location, device, kwargs), quantization, device, skip
            )
        tok = tokenizer(source.location, model)
    except OSError as error:
        raise ModelLoadError(f"could not load the {role} model {spec!r}: {error}") from error
    report = _report(role, source, model, device, used, time.perf_counter() - started, note)
    return LoadedModel(model, tok, report)


def load_causal_lm(
    spec: str,
    *,
    device: str = "auto",
    quantization: Quantization = "none",
    cache_dir: Path,
    trust_remote_code: bool = False,
    attn_implementation: str | None = None,
    cpu_decode: CpuDecode = "fp16",
) -> LoadedModel:
    """A GPT-style chat model and its tokenizer (with the model's own chat template).

    `attn_implementation="eager"` gives a copy that can return attention weights (the Lab).
    On the CPU, unquantized, its linear layers become `CpuLinear` (an fp16 copy of each weight for
    decoding a few rows) unless `cpu_decode="fp32"`.
    """
    from transformers import AutoModelForCausalLM

    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    role = f"chat ({attn_implementation} attention)" if attn_implementation else "chat"
    loaded = _load(
        role, spec, device, quantization, cache_dir,
        _hf_build(AutoModelForCausalLM, trust_remote_code, **extra), _auto_tokenizer(trust_remote_code),
    )
    if loaded.tokenizer.chat_template is None:
        raise ModelLoadError(f"{spec!r} has no chat template; choose an instruct/chat model")
    report = loaded.report
    if cpu_decode == "fp16" and report.device == "cpu" and report.quantization == "none":
        sample = prompt_ids(loaded.tokenizer, [{"role": "user", "content": CALIBRATION_PROMPT}])
        if speed_up_linears(loaded.model, sample):
            report = replace(report, dtype="float32 (fp16 copy for decoding)",
                             footprint_mb=round(_footprint_mb(loaded.model), 1))
    return LoadedModel(loaded.model, loaded.tokenizer, report)


def load_encoder(
    spec: str,
    *,
    device: str = "auto",
    quantization: Quantization = "none",
    cache_dir: Path,
    trust_remote_code: bool = False,
    cpu_bf16: bool = False,
) -> LoadedModel:
    """A BERT-style sentence encoder (sentence-transformers: its pooling and normalisation).

    `cpu_bf16` runs an unquantized encoder on the CPU in bfloat16: on CPUs with native bf16 it embeds
    several times faster (all-MiniLM-L6-v2: 6x) with vectors at cosine 0.9999 to fp32 (bench/embedding.py).
    """
    from sentence_transformers import SentenceTransformer

    def build(location: str, device: str, kwargs: dict[str, Any]) -> Any:
        return SentenceTransformer(
            location,
            device=None if "device_map" in kwargs else device,
            trust_remote_code=trust_remote_code,
            model_kwargs={"use_safetensors": True, **kwargs},
        ).eval()

    loaded = _load("encoder", spec, device, quantization, cache_dir, build, lambda location, model: model.tokenizer)
    report = loaded.report
    if cpu_bf16 and report.device == "cpu" and report.quantization == "none":
        loaded.model.to(torch.bfloat16)
        report = replace(report, dtype="bfloat16", footprint_mb=round(_footprint_mb(loaded.model), 1))
    return LoadedModel(loaded.model, loaded.tokenizer, report)


def load_encoder_transformer(
    spec: str,
    *,
    device: str = "auto",
    quantization: Quantization = "none",
    cache_dir: Path,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """The encoder's bare transformer with eager attention, so it can return attention weights."""
    from transformers import AutoModel

    build = _hf_build(AutoModel, trust_remote_code, attn_implementation="eager")
    return _load("encoder (attention)", spec, device, quantization, cache_dir, build, _auto_tokenizer(trust_remote_code))


def load_sequence_classifier(
    spec: str,
    *,
    labels: Sequence[str],
    device: str = "auto",
    quantization: Quantization = "none",
    cache_dir: Path,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """A BERT-style model with a fresh classification head for `labels`, ready to fine-tune.

    Under bitsandbytes the head stays in full precision: it is small and must train.
    """
    from transformers import AutoModelForSequenceClassification

    id2label = dict(enumerate(labels))
    build = _hf_build(
        AutoModelForSequenceClassification,
        trust_remote_code,
        num_labels=len(labels),
        id2label=id2label,
        label2id={label: i for i, label in id2label.items()},
    )
    return _load(
        "classifier", spec, device, quantization, cache_dir, build, _auto_tokenizer(trust_remote_code),
        CLASSIFIER_HEADS,
    )


def load_nli(
    spec: str,
    *,
    device: str = "auto",
    quantization: Quantization = "none",
    cache_dir: Path,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """An NLI model (labels include entailment) wrapped in transformers' zero-shot pipeline."""
    from transformers import AutoModelForSequenceClassification, pipeline

    loaded = _load(
        "nli", spec, device, quantization, cache_dir,
        _hf_build(AutoModelForSequenceClassification, trust_remote_code), _auto_tokenizer(trust_remote_code),
        CLASSIFIER_HEADS,
    )
    if not any(str(label).lower().startswith("entail") for label in loaded.model.config.label2id):
        raise ModelLoadError(f"{spec!r} is not an NLI model: it has no 'entailment' label")
    zero_shot = pipeline("zero-shot-classification", model=loaded.model, tokenizer=loaded.tokenizer)
    return LoadedModel(zero_shot, loaded.tokenizer, loaded.report)
