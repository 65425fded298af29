"""Words of any script: Chinese cut into words with their offsets, English as written."""

from __future__ import annotations

from lmdemo.docqa.answer import attribute, matched_terms
from lmdemo.docqa.index import Hit
from lmdemo.docqa.splitting import Passage
from lmdemo.words import content_words, segmented, terms, words


def test_mixed_text_gives_each_word_with_its_offset() -> None:
    text = "BERT 模型在自然语言处理中很重要 and GPT too."
    found = list(words(text))
    assert all(text[offset:offset + len(word)] == word for offset, word in found)
    assert ("BERT" in [w for _, w in found]) and "自然语言" in [w for _, w in found]
    assert segmented("模型很重要") == " 模型 很 重要 "


def test_content_words_keep_chinese_words_and_drop_particles_and_english_stopwords() -> None:
    assert content_words("这个模型的效果很好 and the results are strong") == {"这个", "模型", "效果", "results", "strong"}


def test_terms_keep_order_and_stem_english_words_only() -> None:
    assert terms("Proposed models propose 北京大学的学生 studies") == ["propos", "model", "propos", "北京大学", "学生", "studi"]


def test_a_chinese_answer_is_cited_and_highlighted_by_its_words() -> None:
    passages = ["注意力机制让模型关注输入中最相关的部分。", "卷积网络常用于图像识别。"]
    hits = [Hit(Passage(t, f"doc{i}.md", None, "", 0, len(t)), 1.0, 0.5, 1.0, i) for i, t in enumerate(passages)]
    text, cited, _ = attribute("注意力机制让模型关注最相关的部分。卷积网络用于图像识别。", hits)
    assert text == "注意力机制让模型关注最相关的部分。 [1] 卷积网络用于图像识别。 [2]" and cited == [1, 2]
    assert sorted(matched_terms(passages[0], "什么是注意力机制？")) == ["机制", "注意力"]
