"""How much of a text a tokenizer can read: the letters its vocabulary knows.

An English WordPiece vocabulary (all-MiniLM-L6-v2's) maps 70% of the letters of Chinese reviews
to [UNK]; its vectors for such text are noise (zh-news dense recall@1 0.02), and classifiers on them
guess with confidence. The app checks coverage before trusting an encoder with a text, and says so.
Only letters and digits count (of any script): an emoji the vocabulary lacks does not make a short
English text unreadable.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

POOR_COVERAGE = 0.2  # above this share of unknown letters the encoder's output is not trusted


@dataclass(frozen=True)
class Coverage:
    """Letters and digits of a text and those the tokenizer only sees as unknown."""

    characters: int
    unknown: int
    unknown_examples: str = ""  # a few of the distinct unknown characters, in order of appearance

    @property
    def share_unknown(self) -> float:
        return self.unknown / self.characters if self.characters else 0.0

    @property
    def poor(self) -> bool:
        return self.share_unknown > POOR_COVERAGE


def _counts(texts: str | Iterable[str]) -> Counter[str]:
    texts = [texts] if isinstance(texts, str) else texts
    return Counter(ch for text in texts for ch in text if ch.isalnum())


def letters(texts: str | Iterable[str]) -> int:
    """How many letters and digits `texts` hold (what coverage counts)."""
    return sum(_counts(texts).values())


def coverage(tokenizer: Any, texts: str | Iterable[str], examples: int = 8) -> Coverage:
    """The coverage of `texts` (one or many) by `tokenizer`. A letter is unknown when the tokenizer
    turns it, alone, into its unknown token; byte-level vocabularies know every character."""
    counts = _counts(texts)
    unk = getattr(tokenizer, "unk_token_id", None)
    if unk is None or not counts:
        return Coverage(sum(counts.values()), 0)
    distinct = list(counts)
    ids = tokenizer(distinct, add_special_tokens=False)["input_ids"]
    unknown = [ch for ch, piece in zip(distinct, ids) if unk in piece or not piece]
    return Coverage(sum(counts.values()), sum(counts[ch] for ch in unknown), " ".join(unknown[:examples]))


# What to use instead, in English and Chinese (a Chinese text gets the Chinese explanation).
ENCODER_REMEDY = ("Load a multilingual encoder in the Models tab ({encoders}), or use the n-gram baseline, which "
                  "reads any language.", "请在“模型”页加载多语言编码器（{encoders}），或使用适用于任何语言的 n-gram 基线。")


def unreadable(model: tuple[str, str], read: Coverage, remedy: tuple[str, str] = ENCODER_REMEDY,
               chinese: bool = False) -> str:
    """Why the output of `model` (named in English and Chinese) for a text it cannot read is not
    shown, and what to use instead."""
    from lmdemo.models.catalog import multilingual_encoders

    encoders = ", ".join(multilingual_encoders())
    if chinese:
        return (f"{model[1]}不认识这段文字中 {read.share_unknown:.0%} 的字符（{read.unknown_examples}），"
                f"它给出的分数只会是猜测。" + remedy[1].format(encoders=encoders))
    return (f"{model[0]} does not know {read.share_unknown:.0%} of the characters of this text "
            f"({read.unknown_examples}), so its scores would be guesses. " + remedy[0].format(encoders=encoders))
