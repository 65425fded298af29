"""Which models the Models tab offers: the packaged ones, your folder's, and a short curated catalog.

Catalog entries carry their architecture's sizes (from each model's config.json), so the tab can
estimate memory before anything is downloaded; a GGUF variant names its repository and file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from lmdemo.models.estimate import ModelShape, folder_shape, gguf_shape
from lmdemo.models.sources import ModelSourceError, resolve

Q4_K_M_BYTES_PER_PARAM = 4.85 / 8  # llama.cpp's Q4_K_M averages about 4.85 bits per weight


@dataclass(frozen=True)
class Architecture:
    """The sizes an estimate needs, as a model's config.json gives them."""

    vocab: int
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    tied: bool = True
    head_dim: int = 0
    kind: str = "llama"  # llama (gated MLP) or bert

    def shape(self, gguf_bytes: int = 0) -> ModelShape:
        head_dim = self.head_dim or self.hidden // self.heads
        kv = self.kv_heads * head_dim
        if self.kind == "bert":
            per_layer = 4 * self.hidden * self.hidden + 2 * self.hidden * self.intermediate
            linear = self.layers * per_layer + self.hidden * self.hidden
            rows = self.layers * (4 * self.hidden + self.intermediate + self.hidden) + self.hidden
            params = linear + (self.vocab + 514) * self.hidden + self.layers * (self.intermediate + 9 * self.hidden)
            return ModelShape(params, linear, rows, 0, self.layers, kv, gguf_bytes)
        per_layer = 2 * self.hidden * self.heads * head_dim + 2 * self.hidden * kv + 3 * self.hidden * self.intermediate
        linear = self.layers * per_layer
        rows = self.layers * (self.heads * head_dim + 2 * kv + self.hidden + 2 * self.intermediate)
        embeddings = self.vocab * self.hidden * (1 if self.tied else 2)
        params = linear + embeddings + (2 * self.layers + 1) * self.hidden
        return ModelShape(params, linear, rows, self.vocab * self.hidden, self.layers, kv, gguf_bytes)


@dataclass(frozen=True)
class CatalogEntry:
    spec: str  # hub id, or repo/file.gguf
    role: str  # chat | encoder | nli
    arch: Architecture
    note: str = ""
    multilingual: bool = False


SMOLLM_135M = Architecture(49152, 576, 30, 9, 3, 1536)
SMOLLM_360M = Architecture(49152, 960, 32, 15, 5, 2560)
SMOLLM_1_7B = Architecture(49152, 2048, 24, 32, 32, 8192)
QWEN_0_5B = Architecture(151936, 896, 24, 14, 2, 4864)
QWEN_1_5B = Architecture(151936, 1536, 28, 12, 2, 8960)
QWEN_3B = Architecture(151936, 2048, 36, 16, 2, 11008)
LLAMA_1B = Architecture(128256, 2048, 16, 32, 8, 8192, head_dim=64)
LLAMA_3B = Architecture(128256, 3072, 28, 24, 8, 8192, head_dim=128)
PHI_3_5 = Architecture(32064, 3072, 32, 32, 32, 8192, tied=False)
GATED = "gated: accept its license on the hub, then set HF_TOKEN"

CATALOG: tuple[CatalogEntry, ...] = (
    CatalogEntry("HuggingFaceTB/SmolLM2-135M-Instruct", "chat", SMOLLM_135M),
    CatalogEntry("HuggingFaceTB/SmolLM2-360M-Instruct", "chat", SMOLLM_360M),
    CatalogEntry("HuggingFaceTB/SmolLM2-1.7B-Instruct", "chat", SMOLLM_1_7B),
    CatalogEntry("HuggingFaceTB/SmolLM2-1.7B-Instruct-GGUF/smollm2-1.7b-instruct-q4_k_m.gguf", "chat", SMOLLM_1_7B),
    CatalogEntry("Qwen/Qwen2.5-0.5B-Instruct", "chat", QWEN_0_5B),
    CatalogEntry("Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf", "chat", QWEN_0_5B),
    CatalogEntry("Qwen/Qwen2.5-1.5B-Instruct", "chat", QWEN_1_5B),
    CatalogEntry("Qwen/Qwen2.5-1.5B-Instruct-GGUF/qwen2.5-1.5b-instruct-q4_k_m.gguf", "chat", QWEN_1_5B),
    CatalogEntry("Qwen/Qwen2.5-3B-Instruct", "chat", QWEN_3B),
    CatalogEntry("Qwen/Qwen2.5-3B-Instruct-GGUF/qwen2.5-3b-instruct-q4_k_m.gguf", "chat", QWEN_3B),
    CatalogEntry("meta-llama/Llama-3.2-1B-Instruct", "chat", LLAMA_1B, GATED),
    CatalogEntry("bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf", "chat", LLAMA_1B),
    CatalogEntry("meta-llama/Llama-3.2-3B-Instruct", "chat", LLAMA_3B, GATED),
    CatalogEntry("bartowski/Llama-3.2-3B-Instruct-GGUF/Llama-3.2-3B-Instruct-Q4_K_M.gguf", "chat", LLAMA_3B),
    CatalogEntry("microsoft/Phi-3.5-mini-instruct", "chat", PHI_3_5),
    CatalogEntry("bartowski/Phi-3.5-mini-instruct-GGUF/Phi-3.5-mini-instruct-Q4_K_M.gguf", "chat", PHI_3_5),
    CatalogEntry("sentence-transformers/all-MiniLM-L6-v2", "encoder", Architecture(30522, 384, 6, 12, 12, 1536, kind="bert")),
    CatalogEntry("BAAI/bge-small-en-v1.5", "encoder", Architecture(30522, 384, 12, 12, 12, 1536, kind="bert")),
    CatalogEntry("BAAI/bge-base-en-v1.5", "encoder", Architecture(30522, 768, 12, 12, 12, 3072, kind="bert")),
    CatalogEntry("sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2", "encoder",
                 Architecture(250002, 384, 12, 12, 12, 1536, kind="bert"), "50+ languages, Chinese included", True),
    CatalogEntry("intfloat/multilingual-e5-small", "encoder", Architecture(250037, 384, 12, 12, 12, 1536, kind="bert"),
                 "100 languages; prefix queries with 'query: '", True),
    CatalogEntry("BAAI/bge-m3", "encoder", Architecture(250002, 1024, 24, 16, 16, 4096, kind="bert"),
                 "100+ languages, long passages", True),
    CatalogEntry("MoritzLaurer/deberta-v3-base-zeroshot-v2.0", "nli",
                 Architecture(128100, 768, 12, 12, 12, 3072, kind="bert"), "zero-shot classification (NLI)"),
)


def multilingual_encoders() -> list[str]:
    """The catalog's encoders that read Chinese and most other languages: what to suggest when
    the loaded encoder cannot read a text."""
    return [e.spec for e in CATALOG if e.role == "encoder" and e.multilingual]


@dataclass(frozen=True)
class Available:
    """A model the app can load, with what is known of its size before loading it."""

    spec: str
    role: str
    source: str  # packaged | your folder | catalog | hub
    shape: ModelShape | None
    note: str = ""

    @property
    def name(self) -> str:
        try:
            return resolve(self.spec).name
        except ModelSourceError:
            return self.spec


def _role_of_folder(folder: Path) -> str:
    """chat for a causal LM, nli for an entailment classifier, encoder otherwise (from config.json)."""
    config = json.loads((folder / "config.json").read_text())
    architectures = " ".join(config.get("architectures") or [])
    if "CausalLM" in architectures or "ConditionalGeneration" in architectures:
        return "chat"
    labels = " ".join(str(v).lower() for v in (config.get("id2label") or {}).values())
    return "nli" if "entail" in labels else "encoder"


def packaged(packages: tuple[str, ...]) -> list[Available]:
    """The models that ship inside installed Python packages."""
    found = []
    for spec in packages:
        try:
            source = resolve(spec)
        except ModelSourceError:
            continue
        if source.gguf_file is not None:
            found.append(Available(spec, "chat", "packaged", gguf_shape(source.gguf_file)))
        else:
            folder = Path(source.location)
            found.append(Available(spec, _role_of_folder(folder), "packaged", folder_shape(folder)))
    return found


def in_folder(folder: Path) -> list[Available]:
    """Every transformers folder and .gguf file in `folder` (and one level below)."""
    if not folder.is_dir():
        return []
    found = []
    candidates = sorted([folder, *(p for p in folder.iterdir() if p.is_dir())])
    for candidate in candidates:
        if (candidate / "config.json").is_file() and any(candidate.glob("*.safetensors")):
            found.append(Available(str(candidate), _role_of_folder(candidate), "your folder", folder_shape(candidate)))
        for gguf in sorted(candidate.glob("*.gguf")):
            found.append(Available(str(gguf), "chat", "your folder", gguf_shape(gguf)))
    return found


def catalog() -> list[Available]:
    """The curated catalog, sized from each entry's architecture (GGUF files by their bits per weight)."""
    rows = []
    for entry in CATALOG:
        if entry.spec.endswith(".gguf"):
            base = entry.arch.shape()
            shape = entry.arch.shape(int(base.params * Q4_K_M_BYTES_PER_PARAM))
        else:
            shape = entry.arch.shape()
        rows.append(Available(entry.spec, entry.role, "catalog", shape, entry.note))
    return rows

