"""The sources panel marks the matched words, in Latin script and in Chinese (which has no spaces)."""

from __future__ import annotations

from lmdemo.ui.docqa import sources_html


def test_matched_words_are_marked_whole_in_english_and_inside_chinese_runs() -> None:
    page = sources_html([{"text": "自注意力机制让每个词都能看到句子中的其他词。 The cat saw cats.",
                          "matched": ["机制", "自注意力", "cat"], "number": 1, "source": "a.md", "score": 0.5}])
    assert "<mark>自注意力</mark><mark>机制</mark>让" in page
    assert "The <mark>cat</mark> saw cats." in page
    assert sources_html([]) == ""
