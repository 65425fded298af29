"""`python -m lmdemo check-space`: the repository passes, and each broken front matter or requirements
file is caught with the check that names it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from lmdemo.hosting.spaces_check import check_space, main, profile_models

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def space(tmp_path: Path) -> Path:
    for name in ("README.md", "requirements.txt", "app.py"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _edit(name: str, old: str, new: str) -> Callable[[Path], None]:
    def edit(root: Path) -> None:
        text = (root / name).read_text()
        assert old in text, f"{old!r} not in {name}"
        (root / name).write_text(text.replace(old, new, 1))

    return edit


def _chain(*edits: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda root: [edit(root) for edit in edits] and None


def _failures(root: Path) -> dict[str, str]:
    return {c.name: c.detail for c in check_space(root) if not c.ok}


def test_the_repository_is_a_valid_space() -> None:
    assert _failures(ROOT) == {}
    assert {"HuggingFaceTB/SmolLM2-1.7B-Instruct", "sentence-transformers/all-MiniLM-L6-v2"} <= profile_models()


BROKEN = {
    "no python_version": (_edit("README.md", 'python_version: "3.12"\n', ""), "python_version", "missing"),
    "python 3.11": (_edit("README.md", 'python_version: "3.12"', 'python_version: "3.11"'), "python_version", "3.11"),
    "sdk version differs": (_edit("README.md", "sdk_version: 6.31.0", "sdk_version: 5.0.0"), "sdk_version", "5.0.0"),
    "not gradio": (_edit("README.md", "sdk: gradio", "sdk: streamlit"), "sdk", "streamlit"),
    "app file missing": (_edit("README.md", "app_file: app.py", "app_file: main.py"), "app_file", "main.py not found"),
    "typo in a key": (_edit("README.md", "preload_from_hub:", "preload_from_huh:"), "front matter keys",
                      "preload_from_huh"),
    "model not listed": (_chain(_edit("README.md", "  - BAAI/bge-small-en-v1.5\n", ""),
                                _edit("README.md", "  - BAAI/bge-small-en-v1.5 config", "  - x/y config")),
                         "models", "BAAI/bge-small-en-v1.5"),
    "gpu model not preloaded": (_edit("README.md", "  - HuggingFaceTB/SmolLM2-1.7B-Instruct config.json", "  - x/y config.json"),
                                "preload_from_hub", "HuggingFaceTB/SmolLM2-1.7B-Instruct"),
    "pickle weights preloaded": (_edit("README.md", "bge-small-en-v1.5 config.json,model.safetensors",
                                       "bge-small-en-v1.5 config.json,pytorch_model.bin"),
                                 "preloaded files", "BAAI/bge-small-en-v1.5"),
    "bad color": (_edit("README.md", "colorTo: purple", "colorTo: magenta"), "colors", "magenta"),
    "long description": (_edit("README.md", "short_description: Chat", "short_description: " + "x" * 60), "short_description",
                         "characters"),
    "index url": (_edit("requirements.txt", "torch==2.11.0", "--extra-index-url https://download.pytorch.org/whl/cu121\ntorch==2.11.0"),
                  "requirements.txt", "index options"),
    "local wheel": (_edit("requirements.txt", "gguf==0.19.0", "./wheels/gguf-0.19.0-py3-none-any.whl"),
                    "requirements.txt", "a local path"),
    "include": (_edit("requirements.txt", "gguf==0.19.0", "-r more.txt"), "requirements.txt", "includes"),
    "gpu build": (_edit("requirements.txt", "gguf==0.19.0", "flash-attn==2.8.3"), "requirements.txt", "needs a GPU build"),
    "cuda tag": (_edit("requirements.txt", "torch==2.11.0", "torch==2.11.0+cu128"), "requirements.txt", "local build tag"),
    "torch too new": (_edit("requirements.txt", "torch==2.11.0", "torch==2.13.0"), "torch", "torch==2.13.0"),
    "torch unpinned": (_edit("requirements.txt", "torch==2.11.0", "torch>=2.8"), "torch", "torch>=2.8"),
    "no front matter": (_edit("README.md", "---\ntitle: lmdemo", "title: lmdemo"), "README.md front matter", ""),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_check_space_catches(space: Path, case: str) -> None:
    edit, check, detail = BROKEN[case]
    edit(space)
    failures = _failures(space)
    assert check in failures, f"{case}: expected {check!r} to fail, failures were {failures}"
    assert detail in failures[check]


def test_check_space_prints_what_it_checked_and_exits_1_on_a_problem(space: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(space) == 0
    assert "✓ python_version: 3.12" in capsys.readouterr().out
    _edit("requirements.txt", "torch==2.11.0", "torch==2.13.0")(space)
    assert main(space) == 1
    out = capsys.readouterr().out
    assert "✗ torch: torch==2.13.0" in out and "not ready for Spaces" in out
    done = subprocess.run([sys.executable, "-m", "lmdemo", "check-space", "--root", str(space)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 1 and "✗ torch" in done.stdout
