"""How much memory a model will take, from its tensor list alone: nothing is loaded or downloaded.

The tensor names and shapes come from a GGUF file's header, the headers of local safetensors
files, or the hub's safetensors metadata (read with range requests). The rules follow what the
loaders really do (`loading.py`, `llamacpp/`): on a CPU, transformers keeps fp32 weights plus an
fp16 copy of each linear layer for a chat model; bitsandbytes quantizes the linear layers (not
embeddings or the output head) to one byte (8-bit, plus a scale per row) or half a byte (4-bit
NF4, plus a scale per 64 values); llama.cpp maps the GGUF file as it is and keeps keys and values
in f16 or 8 bits (`--kv-cache`). A GPU keeps unquantized weights in 16 bits, and so does a CPU with native bf16 for an
encoder.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

MB = 2**20
NOT_LINEAR = re.compile(r"embed|lm_head|wte|wpe|token_embd|^output\.weight$|shared\.weight")
HEAD = re.compile(r"lm_head|^output\.weight$")
KV_BYTES = {"transformers-cpu": 4.0, "transformers-gpu": 2.0}
LLAMACPP_KV_BYTES = {"f16": 2.0, "q8_0": 34 / 32}  # q8_0: 32 int8 values and one f16 scale per block


@dataclass(frozen=True)
class ModelShape:
    """What an estimate needs to know about a model's tensors and attention."""

    params: int
    linear_params: int  # in the 2-D weights of linear layers: what bitsandbytes quantizes
    linear_rows: int  # their output rows (8-bit keeps an fp32 scale per row)
    head_params: int  # the output head's weight (a chat model's fp16 copy includes it, tied or not)
    layers: int
    kv_width: int  # key (or value) values per token per layer
    gguf_bytes: int = 0  # the GGUF file's size, when the model is one


@dataclass(frozen=True)
class Estimate:
    """One way to load a model: the weights' memory and the KV cache's per 1,000 tokens."""

    quantization: str  # none | 8bit | 4bit | gguf
    engine: str  # transformers | llama.cpp
    weights_mb: float
    kv_mb_per_1k: float | None

    def total_mb(self, tokens: int) -> float:
        return self.weights_mb + (self.kv_mb_per_1k or 0.0) * tokens / 1000


def _shape(tensors: dict[str, tuple[int, ...]], layers: int, kv_width: int, gguf_bytes: int = 0) -> ModelShape:
    params = linear = rows = head = 0
    embedding_width = 0
    for name, dims in tensors.items():
        count = 1
        for d in dims:
            count *= int(d)
        params += count
        if HEAD.search(name):
            head += count
        elif len(dims) == 2 and not NOT_LINEAR.search(name) and name.endswith("weight"):
            linear += count
            rows += int(dims[0]) if not gguf_bytes else int(dims[1])  # GGUF lists (in, out)
        if re.search(r"embed_tokens|token_embd|word_embeddings|wte", name) and len(dims) == 2:
            embedding_width = int(dims[0]) * int(dims[1])
    return ModelShape(params, linear, rows, head or embedding_width, layers, kv_width, gguf_bytes)


def _kv_width(config: dict[str, Any]) -> tuple[int, int]:
    """(layers, key values per token per layer) from a transformers config."""
    text = config.get("text_config", config)
    layers = int(text.get("num_hidden_layers") or text.get("n_layer") or 0)
    heads = int(text.get("num_attention_heads") or text.get("n_head") or 1)
    hidden = int(text.get("hidden_size") or text.get("n_embd") or 0)
    kv_heads = int(text.get("num_key_value_heads") or heads)
    head_dim = int(text.get("head_dim") or hidden // max(heads, 1))
    return layers, kv_heads * head_dim


@lru_cache(maxsize=64)
def _gguf_shape(path: str, size: int, mtime: float) -> ModelShape:
    import gguf

    reader = gguf.GGUFReader(path)
    fields = {name: field.contents() for name, field in reader.fields.items() if not name.startswith("tokenizer.")}
    arch = fields.get("general.architecture", "llama")
    heads = int(fields.get(f"{arch}.attention.head_count", 1))
    kv_heads = int(fields.get(f"{arch}.attention.head_count_kv", heads))
    width = int(fields.get(f"{arch}.embedding_length", 0))
    head_dim = int(fields.get(f"{arch}.attention.key_length", width // max(heads, 1)))
    tensors = {t.name: tuple(int(d) for d in t.shape) for t in reader.tensors}
    return _shape(tensors, int(fields.get(f"{arch}.block_count", 0)), kv_heads * head_dim, size)


def gguf_shape(path: Path) -> ModelShape:
    stat = path.stat()
    return _gguf_shape(str(path), stat.st_size, stat.st_mtime)


@lru_cache(maxsize=64)
def _folder_shape(folder: str, mtime: float) -> ModelShape:
    from safetensors import safe_open

    tensors: dict[str, tuple[int, ...]] = {}
    for file in sorted(Path(folder).glob("*.safetensors")):
        with safe_open(str(file), "np") as handle:
            for name in handle.keys():
                tensors[name] = tuple(handle.get_slice(name).get_shape())
    layers, width = _kv_width(json.loads((Path(folder) / "config.json").read_text()))
    return _shape(tensors, layers, width)


def folder_shape(folder: Path) -> ModelShape:
    """A transformers folder's shape from its safetensors headers and config.json."""
    return _folder_shape(str(folder), (folder / "config.json").stat().st_mtime)


def hub_shape(repo: str) -> ModelShape:
    """A hub model's shape from its safetensors metadata and config.json (a few KB, no weights)."""
    from huggingface_hub import HfApi, hf_hub_download

    metadata = HfApi().get_safetensors_metadata(repo)
    tensors = {name: tuple(info.shape) for file in metadata.files_metadata.values()
               for name, info in file.tensors.items()}
    config = json.loads(Path(hf_hub_download(repo, "config.json")).read_text())
    layers, width = _kv_width(config)
    return _shape(tensors, layers, width)


def estimates(shape: ModelShape, role: str, device: str, fp16_copies: bool = True,
              encoder_bf16: bool = False, kv_cache: str = "f16") -> list[Estimate]:
    """Memory for each way this app can load the model on `device` (cpu or cuda).

    `encoder_bf16`: an unquantized encoder on this CPU runs in bf16 (`runtime.encoder_in_bf16`);
    `kv_cache`: how llama.cpp stores keys and values (`Settings.kv_cache`)."""
    kv_values = 2 * shape.layers * shape.kv_width * 1000  # keys and values of 1,000 tokens
    if shape.gguf_bytes and device == "cpu" and role == "chat":
        kv = kv_values * LLAMACPP_KV_BYTES[kv_cache] / MB if shape.layers else None
        rows = [Estimate("gguf", "llama.cpp", shape.gguf_bytes / MB, kv)]
    else:
        rows = []
    dense = 2.0 if device == "cuda" else 4.0
    unquantized = 2.0 if role == "encoder" and encoder_bf16 else dense
    kv = kv_values * KV_BYTES[f"transformers-{'gpu' if device == 'cuda' else 'cpu'}"] / MB if role == "chat" else None
    rest = shape.params - shape.linear_params
    copies = 2.0 * (shape.linear_params + shape.head_params) if role == "chat" and device == "cpu" and fp16_copies else 0
    rows.append(Estimate("none", "transformers", (shape.params * unquantized + copies) / MB, kv))
    eight = shape.linear_params * 1.0 + shape.linear_rows * 4.0 + rest * dense
    rows.append(Estimate("8bit", "transformers", eight / MB, kv))
    four = shape.linear_params * (0.5 + 1 / 64) + rest * dense
    rows.append(Estimate("4bit", "transformers", four / MB, kv))
    return rows
