"""The Lab on the packaged models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmdemo.services import build_services
from lmdemo.settings import Settings


@pytest.fixture(scope="module")
def lab(cache_dir: Path):
    return build_services(Settings(device="cpu", cache_dir=cache_dir)).lab


def test_paris_is_among_the_top_five_next_tokens(lab) -> None:
    rows = lab.next_token("The capital of France is", top_k=5, temperature=1.0)
    assert " Paris" in [r["token"] for r in rows[:5]]


def test_both_tokenizers_side_by_side(lab) -> None:
    views = lab.tokenize("Tokenization differs!")
    assert any(t.text.startswith("##") for t in views["bert"])
    assert views["bert"][0].text == "[CLS]"
    assert "".join(t.text for t in views["gpt"]).replace("Ġ", " ") == "Tokenization differs!"


@pytest.mark.parametrize("which", ["gpt", "bert"])
def test_attention_maps_of_the_real_models(lab, which: str) -> None:
    names, matrix = lab.attention("The cat sat on the mat.", which, 1, None)
    assert matrix.shape == (len(names), len(names))
    assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-4)
    upper = np.triu(matrix, k=1).sum()
    assert (upper == pytest.approx(0.0, abs=1e-6)) if which == "gpt" else upper > 0.1
