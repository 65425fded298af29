"""How much of a text a tokenizer can read: the characters its vocabulary knows.

An English WordPiece vocabulary (all-MiniLM-L6-v2's) maps 63% of the characters of Chinese reviews
to [UNK]; its vectors for such text are noise (zh-news dense recall@1 0.02), and classifiers on them
guess with confidence. The app checks coverage before trusting an encoder with a text, and says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

POOR_COVERAGE = 0.2  # above this share of unknown characters the encoder's output is not trusted


@dataclass(frozen=True)
class Coverage:
    """Characters of a text (spaces not counted) and those the tokenizer only sees as unknown."""

    characters: int
    unknown: int
    unknown_examples: str = ""  # a few of the distinct unknown characters, in order of appearance

    @property
    def share_unknown(self) -> float:
        return self.unknown / self.characters if self.characters else 0.0

    @property
    def poor(self) -> bool:
        return self.share_unknown > POOR_COVERAGE

    def summary(self) -> str:
        """'38 of 40 characters known; unknown: 龘 𠀋' — for the Lab and for warnings."""
        if not self.characters:
            return "no characters"
        if not self.unknown:
            return f"all {self.characters:,} characters known"
        return (f"{self.characters - self.unknown:,} of {self.characters:,} characters known "
                f"({self.share_unknown:.0%} unknown: {self.unknown_examples})")


def coverage(tokenizer: Any, texts: str | Iterable[str], examples: int = 8) -> Coverage:
    """The coverage of `texts` (one or many) by `tokenizer`. A character is unknown when the
    tokenizer turns it, alone, into its unknown token; byte-level vocabularies know every character."""
    texts = [texts] if isinstance(texts, str) else list(texts)
    counts: dict[str, int] = {}
    for text in texts:
        for ch in text:
            if not ch.isspace():
                counts[ch] = counts.get(ch, 0) + 1
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None or not counts:
        return Coverage(sum(counts.values()), 0)
    distinct = list(counts)
    ids = tokenizer(distinct, add_special_tokens=False)["input_ids"]
    unknown = [ch for ch, piece in zip(distinct, ids) if unk in piece or not piece]
    return Coverage(sum(counts.values()), sum(counts[ch] for ch in unknown), " ".join(unknown[:examples]))


def unreadable(model: str, read: Coverage) -> str:
    """Why `model`'s output for a text it cannot read is not shown, and what to use instead."""
    from lmdemo.models.catalog import multilingual_encoders

    return (f"{model} does not know {read.share_unknown:.0%} of the characters of this text "
            f"({read.unknown_examples}), so its scores would be guesses. Load a multilingual encoder in the "
            f"Models tab ({', '.join(multilingual_encoders())}), or use the n-gram baseline, which reads any "
            "language.")
