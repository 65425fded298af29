"""Downloads from the Hugging Face hub: only what the app loads, into the usual hub cache, with progress.

A model is a hub repository (`org/name`: its safetensors, config, tokenizer and sentence-
transformers files) or one GGUF file in a repository (`org/name/file.gguf`). The plan lists the
files and their total size before a byte is fetched; the download resumes where an earlier one
stopped (huggingface_hub keeps `.incomplete` files) and reports progress in bytes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmdemo.errors import UserError
from lmdemo.models.sources import HUB_GGUF, HUB_ID

KEEP = re.compile(
    r"(^|/)(config\.json|generation_config\.json|.*\.safetensors|model\.safetensors\.index\.json|tokenizer\.json"
    r"|tokenizer_config\.json|special_tokens_map\.json|added_tokens\.json|vocab\.(txt|json)|merges\.txt"
    r"|tokenizer\.model|spiece\.model|sentencepiece\.bpe\.model|modules\.json|sentence_bert_config\.json"
    r"|config_sentence_transformers\.json|chat_template\.(jinja|json)|1_Pooling/config\.json)$"
)
SKIP = re.compile(r"^(onnx|openvino|runs|coreml)/")


@dataclass(frozen=True)
class DownloadPlan:
    """What a download will fetch: the repository, its files with their sizes, and the total."""

    spec: str
    repo: str
    files: tuple[tuple[str, int], ...]

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self.files)

    def summary(self) -> str:
        return f"{len(self.files)} files, {self.total_bytes / 2**20:,.1f} MB from {self.repo}"


def is_hub(spec: str) -> bool:
    """A hub repository or a GGUF file in one (the file system is not consulted)."""
    return bool(HUB_ID.match(spec) or HUB_GGUF.match(spec))


def plan(spec: str) -> DownloadPlan:
    """The files to fetch for `spec`, refused when the repository has no safetensors or GGUF weights."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    gguf = HUB_GGUF.match(spec)
    repo = gguf["repo"] if gguf else spec
    try:
        tree = [entry for entry in HfApi().list_repo_tree(repo, recursive=True) if hasattr(entry, "size")]
    except (HfHubHTTPError, OSError) as error:
        raise UserError(f"Cannot list {repo} on the hub: {error}") from error
    if gguf:
        files = tuple((e.path, int(e.size)) for e in tree if e.path == gguf["file"])
        if not files:
            raise UserError(f"{repo} has no file {gguf['file']}.")
    else:
        files = tuple((e.path, int(e.size)) for e in tree if KEEP.search(e.path) and not SKIP.match(e.path))
        if not any(path.endswith(".safetensors") for path, _ in files):
            raise UserError(f"{repo} has no safetensors weights; this app loads only safetensors or GGUF files.")
    return DownloadPlan(spec, repo, files)


def _bytes_progress(on_bytes: Callable[[int], None]) -> type:
    """A tqdm stand-in that huggingface_hub feeds with the bytes it receives."""

    class Progress:
        def __init__(self, *args: Any, initial: int = 0, **kwargs: Any) -> None:
            if initial:
                on_bytes(int(initial))

        def __enter__(self) -> Progress:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

        def update(self, n: float | None = 1) -> None:
            on_bytes(int(n or 0))

        def close(self) -> None:
            return None

        def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
            return None

    return Progress


def download(plan: DownloadPlan, progress: Callable[[int, int], None] | None = None) -> Path:
    """Fetch the plan's files; return the GGUF file, or the snapshot folder of a repository.

    `progress(done, total)` is called in bytes as they arrive (files already cached count at once).
    """
    from huggingface_hub import hf_hub_download

    report = progress or (lambda done, total: None)
    done = 0

    def add(n: int) -> None:
        nonlocal done
        done += n
        report(done, plan.total_bytes)

    path = ""
    for name, size in plan.files:
        before = done
        path = hf_hub_download(plan.repo, name, tqdm_class=_bytes_progress(add))
        if done - before < size:  # served from the cache: no bytes were reported
            add(size - (done - before))
    return Path(path) if HUB_GGUF.match(plan.spec) else _snapshot(Path(path), plan)


def _snapshot(last: Path, plan: DownloadPlan) -> Path:
    """The snapshot folder: the last file's path without its path inside the repository."""
    depth = len(Path(plan.files[-1][0]).parts)
    folder = last
    for _ in range(depth):
        folder = folder.parent
    return folder
