"""Sentence ends in what a model writes: the sentence limit and whole-sentence replies."""

from __future__ import annotations

import pytest

from lmdemo.sentences import end_of_sentences, whole_sentences


@pytest.mark.parametrize("text, whole", [
    ("It was founded in 1987. [1] 2. The station was", "It was founded in 1987. [1]"),
    ("1. Maria Quell founded it [1]. 2.", "1. Maria Quell founded it [1]."),
    ("本文提出了一种方法。具体", "本文提出了一种方法。"),
    ("It was founded in 1987 [1]. She led it for ten years [1, 2]", None),
    ("The answer is 2.", None),
    ("He said ‘it works.’", None),
    ("It was founded in", None),
])
def test_an_answer_ends_with_a_whole_sentence(text: str, whole: str | None) -> None:
    assert whole_sentences(text) == (text if whole is None else whole)


def test_the_end_of_sentences_is_seen_once_the_next_begins() -> None:
    text = "It has two parts: 1. a chain and 2. a buoy [2]. Then more"
    assert text[:end_of_sentences(text, 1)] == "It has two parts: 1. a chain and 2. a buoy [2]."
    assert end_of_sentences("It was founded in 1987. [1", 1) is None  # a marker may still be coming
    assert end_of_sentences("It was founded in 1987. [1]", 1) is None
    chinese = "它建于1987年。[1] 它有十二个传感器！[2]它"
    assert chinese[:end_of_sentences(chinese, 2)] == "它建于1987年。[1] 它有十二个传感器！[2]"
