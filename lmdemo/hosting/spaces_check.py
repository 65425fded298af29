"""`python -m lmdemo check-space`: would this repository build and run as a Hugging Face Space?

A Space reads the YAML front matter of README.md and installs requirements.txt on its own
(copied alone into the build, so no `-r` includes); nothing here can reach the hub, so this
checks what can be checked offline: the front matter's keys and values against the Spaces
configuration reference and ZeroGPU's limits, that the app file exists, that every hub model a
profile names is declared (and the GPU profiles' models preloaded, as safetensors), and that the
requirements hold no local paths, index URLs or packages that need a GPU build.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from lmdemo.models.sources import is_hub_id
from lmdemo.settings import PROFILES, Settings

ZERO_GPU_PYTHON = ("3.10", "3.12")
ZERO_GPU_TORCH = SpecifierSet(">=2.8,<2.12")
GPU_PROFILES = ("gpu", "zerogpu")
MODEL_FIELDS = ("chat_model", "encoder_model", "zero_shot_model", "lab_chat_model")
COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
KNOWN_KEYS = {
    "title", "emoji", "colorFrom", "colorTo", "sdk", "python_version", "sdk_version", "suggested_hardware",
    "suggested_storage", "app_file", "app_port", "base_path", "fullWidth", "header", "short_description", "models",
    "datasets", "tags", "thumbnail", "pinned", "hf_oauth", "hf_oauth_scopes", "hf_oauth_expiration_minutes",
    "hf_oauth_authorized_org", "disable_embedding", "startup_duration_timeout", "custom_headers",
    "preload_from_hub", "license",
}
# Packages that compile CUDA code at install time (or only ship CUDA builds): a Space build has no GPU.
GPU_BUILD_PACKAGES = {
    "flash-attn", "flash-attn-3", "xformers", "auto-gptq", "autoawq", "vllm", "deepspeed", "apex", "mamba-ssm",
    "causal-conv1d", "exllamav2", "exllama", "flashinfer-python", "triton-nightly",
}
INDEX_OPTIONS = ("-i", "--index-url", "--extra-index-url", "-f", "--find-links", "--trusted-host", "--no-index")
WEIGHT_FILE = re.compile(r"\.(safetensors|gguf)$")


@dataclass(frozen=True)
class Check:
    """One thing checked: what, whether it holds, and the detail (the reason when it does not)."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.ok else '✗'} {self.name}: {self.detail}"


def profile_models(profiles: Iterable[str] = tuple(PROFILES)) -> set[str]:
    """Hub model ids the given profiles (and the settings' defaults they inherit) name."""
    defaults = Settings()
    names = set()
    for profile in profiles:
        values = {**{field: getattr(defaults, field) for field in MODEL_FIELDS}, **PROFILES[profile]}
        names |= {values[field] for field in MODEL_FIELDS if is_hub_id(str(values[field]))}
    return names


def _front_matter(readme: Path) -> dict[str, Any]:
    from huggingface_hub import SpaceCard

    return SpaceCard.load(readme).data.to_dict()


def _preloads(entries: list[Any]) -> dict[str, list[str]]:
    """`repo [file,file] [commit]` entries → repo → the files named (empty: the whole repository)."""
    preloads = {}
    for entry in entries:
        parts = str(entry).split()
        preloads[parts[0]] = [f.strip() for f in parts[1].split(",") if f.strip()] if len(parts) > 1 else []
    return preloads


def _front_matter_checks(meta: dict[str, Any], root: Path, pins: dict[str, Requirement]) -> list[Check]:
    checks = []
    unknown = sorted(set(meta) - KNOWN_KEYS)
    checks.append(Check("front matter keys", not unknown,
                        f"unknown keys {unknown} (typos are ignored by Spaces)" if unknown else f"{len(meta)} known keys"))
    checks.append(Check("title", bool(meta.get("title")), meta.get("title") or "missing"))
    checks.append(Check("sdk", meta.get("sdk") == "gradio", f"{meta.get('sdk')!r} (must be gradio)"))
    gradio = pins.get("gradio")
    pinned = str(gradio.specifier).removeprefix("==") if gradio else None
    sdk_version = str(meta.get("sdk_version", ""))
    checks.append(Check("sdk_version", bool(sdk_version) and sdk_version == pinned,
                        f"{sdk_version or 'missing'}; requirements.txt pins gradio {pinned or 'nowhere'}"))
    python = str(meta.get("python_version", ""))
    python_ok = any(python == v or python.startswith(v + ".") for v in ZERO_GPU_PYTHON)
    checks.append(Check("python_version", python_ok,
                        f"{python or 'missing (Spaces default to 3.10)'}; ZeroGPU runs {' or '.join(ZERO_GPU_PYTHON)}"))
    app_file = str(meta.get("app_file", ""))
    checks.append(Check("app_file", bool(app_file) and (root / app_file).is_file(),
                        f"{app_file or 'missing'} {'exists' if app_file and (root / app_file).is_file() else 'not found'}"))
    colors = {key: meta.get(key) for key in ("colorFrom", "colorTo")}
    bad_colors = {k: v for k, v in colors.items() if v is not None and v not in COLORS}
    checks.append(Check("colors", not bad_colors, f"{bad_colors} not in {sorted(COLORS)}" if bad_colors else str(colors)))
    short = str(meta.get("short_description", ""))
    checks.append(Check("short_description", len(short) <= 60, f"{len(short)} characters (at most 60)"))
    if "pinned" in meta:
        checks.append(Check("pinned", isinstance(meta["pinned"], bool), f"{meta['pinned']!r} (true or false)"))
    return checks


def _model_checks(meta: dict[str, Any]) -> list[Check]:
    models = {str(m) for m in meta.get("models") or []}
    preloads = _preloads(list(meta.get("preload_from_hub") or []))
    bad_ids = sorted(m for m in models | set(preloads) if not is_hub_id(m))
    checks = [Check("model ids", not bad_ids, f"not hub ids: {bad_ids}" if bad_ids else f"{len(models | set(preloads))} ids")]
    needed = profile_models()
    missing = sorted(needed - models - set(preloads))
    checks.append(Check("models", not missing,
                        f"profiles name {missing}, not listed in models: or preload_from_hub" if missing
                        else f"all {len(needed)} hub models of the profiles are listed"))
    gpu = profile_models(GPU_PROFILES)
    not_preloaded = sorted(gpu - set(preloads))
    checks.append(Check("preload_from_hub", not not_preloaded,
                        f"GPU profile models not preloaded (the first request would download them): {not_preloaded}"
                        if not_preloaded else f"GPU profiles' models preloaded: {sorted(gpu)}"))
    no_weights = sorted(repo for repo, files in preloads.items()
                        if files and not (any(WEIGHT_FILE.search(f) for f in files) and "config.json" in files
                                          or any(f.endswith(".gguf") for f in files)))
    checks.append(Check("preloaded files", not no_weights,
                        f"file lists without config.json and safetensors/GGUF weights: {no_weights}" if no_weights
                        else "every file list holds a config and safetensors or GGUF weights"))
    return checks


def _requirement_lines(text: str) -> list[str]:
    lines = []
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def _requirements_checks(path: Path) -> tuple[list[Check], dict[str, Requirement]]:
    if not path.is_file():
        return [Check("requirements.txt", False, "missing")], {}
    problems, pins = [], {}
    for line in _requirement_lines(path.read_text()):
        if line.startswith(INDEX_OPTIONS):
            problems.append(f"{line!r}: index options (the Space must resolve from PyPI alone)")
            continue
        if line.startswith(("-r", "--requirement", "-c", "--constraint")):
            problems.append(f"{line!r}: includes (a Space copies requirements.txt alone)")
            continue
        if line.startswith(("-e", "--editable", ".", "/", "~", "file:")):
            problems.append(f"{line!r}: a local path")
            continue
        try:
            requirement = Requirement(line)
        except InvalidRequirement as error:
            problems.append(f"{line!r}: not a requirement ({error})")
            continue
        name = canonicalize_name(requirement.name)
        if requirement.url and requirement.url.startswith("file:"):
            problems.append(f"{line!r}: a local path")
        if name in GPU_BUILD_PACKAGES:
            problems.append(f"{line!r}: needs a GPU build")
        if any("+" in spec.version for spec in requirement.specifier):
            problems.append(f"{line!r}: a local build tag (+cu…/+cpu) that PyPI does not serve")
        pins[name] = requirement
    checks = [Check("requirements.txt", not problems, "; ".join(problems) if problems else f"{len(pins)} packages")]
    torch = pins.get("torch")
    version = str(torch.specifier).removeprefix("==") if torch else ""
    torch_ok = bool(torch) and str(torch.specifier).startswith("==") and ZERO_GPU_TORCH.contains(version)
    checks.append(Check("torch", torch_ok, f"{torch or 'not pinned'} (ZeroGPU supports torch{ZERO_GPU_TORCH})"))
    return checks, pins


def check_space(root: Path) -> list[Check]:
    """Every check, in order; the repository is ready when all hold."""
    readme = root / "README.md"
    requirements, pins = _requirements_checks(root / "requirements.txt")
    try:
        meta = _front_matter(readme)
    except Exception as error:  # missing file, no front matter, bad YAML
        return [Check("README.md front matter", False, f"unreadable ({type(error).__name__}: {error})"), *requirements]
    if not meta:
        return [Check("README.md front matter", False, "no YAML block at the top of README.md"), *requirements]
    return [*_front_matter_checks(meta, root, pins), *_model_checks(meta), *requirements]


def main(root: Path) -> int:
    """Print each check; exit status 1 when any fails."""
    checks = check_space(root)
    for check in checks:
        print(check.line())
    failed = [c for c in checks if not c.ok]
    print(f"{len(checks) - len(failed)} of {len(checks)} checks passed" + (": not ready for Spaces" if failed else ""))
    return 1 if failed else 0
