"""Coverage: which characters of a text a tokenizer knows, and what the app does when it knows too few."""

from __future__ import annotations

import pytest

from lmdemo.models.catalog import multilingual_encoders
from lmdemo.models.coverage import POOR_COVERAGE, coverage, unreadable


@pytest.fixture(scope="module")
def wordpiece(tiny_bert_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(tiny_bert_dir)


def test_characters_outside_a_wordpiece_vocabulary_are_counted_as_unknown(wordpiece) -> None:
    english = coverage(wordpiece, "The quick fox.")
    assert (english.characters, english.unknown) == (11, 0) and not english.poor  # letters and digits count
    chinese = coverage(wordpiece, "自注意力 fox")
    assert (chinese.characters, chinese.unknown) == (7, 4)
    assert chinese.unknown_examples == "自 注 意 力" and chinese.poor
    many = coverage(wordpiece, ["fox dog", "大大大"])  # counted over all texts, each character as often as it occurs
    assert (many.characters, many.unknown, many.unknown_examples) == (9, 3, "大")
    assert coverage(wordpiece, "   ").characters == 0 and not coverage(wordpiece, "").poor


def test_a_byte_level_vocabulary_knows_every_character(tiny_llama_dir) -> None:
    from transformers import AutoTokenizer

    read = coverage(AutoTokenizer.from_pretrained(tiny_llama_dir), "自注意力 🙂")
    assert (read.characters, read.unknown) == (4, 0)


def test_the_threshold_separates_a_stray_symbol_from_a_script_the_model_cannot_read(wordpiece) -> None:
    assert not coverage(wordpiece, "the quick brown fox jumps ⚽").poor
    assert coverage(wordpiece, "fox 😍😍").share_unknown == 0  # an emoji is not a letter the encoder should read
    assert coverage(wordpiece, "the fox 大大大大大").share_unknown > POOR_COVERAGE


def test_the_message_names_the_model_the_share_and_multilingual_encoders(wordpiece) -> None:
    message = unreadable(("The encoder tiny", "编码器 tiny "), coverage(wordpiece, "自注意力"))
    assert message.startswith("The encoder tiny does not know 100% of the characters")
    assert all(spec in message for spec in multilingual_encoders())
    other = unreadable(("The NLI model", "NLI 模型"), coverage(wordpiece, "自注意力"), ("Set an NLI model.", "请设置。"))
    assert other.endswith("guesses. Set an NLI model.")
    chinese = unreadable(("The NLI model", "NLI 模型"), coverage(wordpiece, "自注意力"), ("Set an NLI model.", "请设置。"),
                         chinese=True)
    assert chinese == "NLI 模型不认识这段文字中 100% 的字符（自 注 意 力），它给出的分数只会是猜测。请设置。"
    assert "sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2" in multilingual_encoders()
