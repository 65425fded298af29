"""requirements.txt declares every package the app's code imports."""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions

from tests.conftest import ROOT

OPTIONAL = {"spaces"}  # present on ZeroGPU Spaces only; the app runs without it


def _imported_modules() -> set[str]:
    names = set()
    for path in [ROOT / "app.py", *(ROOT / "lmdemo").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in {"lmdemo", "__future__"}}


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_third_party_import_is_a_declared_requirement() -> None:
    declared = {_normalise(re.split(r"[=<>\[ ;]", line.strip())[0])
                for line in (ROOT / "requirements.txt").read_text().splitlines()
                if line.strip() and not line.startswith("#")}
    distributions = packages_distributions()
    missing = {}
    for module in _imported_modules() - OPTIONAL:
        owners = {_normalise(d) for d in distributions.get(module, [module])}
        if not owners & declared:
            missing[module] = sorted(owners)
    assert not missing, f"imported but not in requirements.txt: {missing}"
