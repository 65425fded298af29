"""The Lab on the packaged models."""

from __future__ import annotations

import re
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
    assert "".join(t.shown for t in views["gpt"]) == "Tokenization differs!"


def test_chinese_tokens_read_as_characters_and_unknown_ones_are_flagged(lab) -> None:
    text = "大模型 🙂"
    views = lab.tokenize(text)
    for token in views["gpt"]:
        if token.note:  # a piece of a character: its bytes
            assert re.fullmatch(r"[0-9a-f]{2}( [0-9a-f]{2})*", token.shown), token
        else:
            assert token.shown and token.shown in text, token
    assert any(not t.note and "大" in t.shown for t in views["gpt"])
    assert any(t.text == "[UNK]" and t.note.startswith("not in the vocabulary") for t in views["bert"])


@pytest.mark.parametrize("which", ["gpt", "bert"])
def test_attention_maps_of_the_real_models(lab, which: str) -> None:
    names, matrix = lab.attention("The cat sat on the mat.", which, 1, None)
    assert matrix.shape == (len(names), len(names))
    assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-4)
    upper = np.triu(matrix, k=1).sum()
    assert (upper == pytest.approx(0.0, abs=1e-6)) if which == "gpt" else upper > 0.1
