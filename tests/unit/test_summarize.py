"""Extractive summaries: central, non-redundant, in document order; sentence splitting."""

from __future__ import annotations

import numpy as np
import pytest

from lmdemo.errors import UserError
from lmdemo.models.pool import ModelPool
from lmdemo.settings import Settings
from lmdemo.tasks.summarize import abstractive, extractive, sentences
from tests.docqa_fakes import Scripted

TOPICS = ["river", "flood", "town", "music", "festival", "band"]


def topic_vectors(parts):
    rows = np.array([[p.lower().count(w) for w in TOPICS] for p in parts], dtype=np.float32) + 1e-3
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


TEXT = (
    "The river flooded the town after days of rain and wind. "
    "The river flood reached the town centre by Monday night. "
    "Rescue teams moved families from the flooded river town. "
    "A music festival with one band was also cancelled that week. "
    "Officials said the river would fall again within a week."
)


def test_sentences_respect_abbreviations() -> None:
    assert sentences("Dr. Smith arrived at 5 p.m. on Monday. He left.") == [
        "Dr. Smith arrived at 5 p.m. on Monday.", "He left."
    ]


def test_extractive_picks_central_sentences_in_order() -> None:
    summary = extractive(topic_vectors, TEXT, 2)
    picked = [s for s in sentences(TEXT) if s in summary]
    assert len(picked) == 2
    assert "music festival" not in summary
    assert summary.index(picked[0]) < summary.index(picked[1])


def test_redundancy_control_avoids_near_duplicates() -> None:
    text = (
        "The river flood hit the town on Monday morning. The river flood hit the town on Monday evening. "
        "The music festival band played a long set that night."
    )
    summary = extractive(topic_vectors, text, 2, redundancy=0.3)
    assert "festival" in summary


def test_short_text_is_returned_whole_and_empty_text_refused() -> None:
    assert extractive(topic_vectors, "One sentence only here.", 3) == "One sentence only here."
    with pytest.raises(UserError):
        extractive(topic_vectors, "   ", 3)


def test_frequent_words_count_and_a_chosen_sentences_words_then_count_less() -> None:
    """With the embeddings saying nothing (all equal), word frequency alone picks: first the sentence
    richest in the document's frequent words, then one covering the rest rather than the same words."""
    text = ("The reservoir level dropped sharply during the long summer drought season. "
            "Farmers near the reservoir reported that the drought destroyed their summer harvest. "
            "The reservoir drought summer reservoir drought summer was discussed by everyone there. "
            "Farmers asked the council for compensation after losing their harvest entirely.")
    flat = lambda parts: np.ones((len(parts), 4), dtype=np.float32) / 2  # noqa: E731
    summary = extractive(flat, text, 2, lead_bias=0.0, min_words=1, redundancy=1.0)
    assert summary.startswith("The reservoir drought summer reservoir")
    assert "compensation" in summary, "the second pick covers the farmers, not the reservoir again"


def test_chinese_text_is_summarised_by_its_character_pairs() -> None:
    from lmdemo.tasks.summarize import _terms

    assert _terms("北京大学的学生 study linguistics") == ["study", "linguistics", "北京", "京大", "大学", "学的", "的学", "学生"]


ZH_ARTICLE = """# 自注意力机制

自注意力机制让序列中的每个词都能直接关注其他所有的词。它是Transformer模型的核心部分！

```python
scores = q @ k.T / math.sqrt(d)
weights = softmax(scores)
```

注意力的计算公式如下：

$$\\mathrm{Attention}(Q,K,V)=\\mathrm{softmax}(QK^T/\\sqrt{d_k})V$$

| 模型 | 层数 |
|---|---|
| BERT | 12 |

多头注意力把表示分成几个子空间，分别计算注意力。这样模型可以同时关注不同位置的信息。训练时通常使用大量的无标注文本？
"""


def test_chinese_articles_split_at_chinese_marks_and_only_prose_is_chosen() -> None:
    parts = sentences(ZH_ARTICLE)
    assert "它是Transformer模型的核心部分！" in parts and "这样模型可以同时关注不同位置的信息。" in parts
    assert not any("softmax(scores)" in p for p in parts), "code blocks are not sentences"
    flat = lambda texts: np.ones((len(texts), 4), dtype=np.float32) / 2  # noqa: E731
    summary = extractive(flat, ZH_ARTICLE, 3)
    chosen = [p for p in parts if p in summary]
    assert len(chosen) == 3 and all(p[-1] in "。！？" for p in chosen), chosen
    assert not any(mark in summary for mark in ("$$", "|", "#", "```", "softmax"))


@pytest.mark.parametrize("reply, summary", [
    ("The river rose. The town flooded. Rain fell for days. The band played on. The festival ended.",
     "The river rose. The town flooded. Rain fell for days."),
    ("河水上涨了。小镇被淹了。雨下了好几天。乐队继续演奏。音乐节结束了。人们回家了。", "河水上涨了。小镇被淹了。雨下了好几天。"),
])
def test_an_abstractive_summary_ends_after_the_sentences_asked_for(reply: str, summary: str) -> None:
    chat = Scripted(reply)
    pool = ModelPool(Settings(device="cpu"), lambda manager: chat)  # the app's pool and its guard
    *_, final = abstractive(pool, "The river flooded the town after days of rain.", n_sentences=3)
    assert final == summary
    _, params = chat.prompts[-1]
    assert params.repetition_guard and params.restatement_guard
    assert chat.written < len(reply) / 4  # the stream was closed, not read to its end (4 characters a chunk)


def test_a_looping_abstractive_summary_is_cut_to_whole_sentences() -> None:
    chat = Scripted("The river flooded the town after days of heavy rain and wind. ",
                    loop="The town was flooded by the river after days of heavy rain and wind ")
    pool = ModelPool(Settings(device="cpu"), lambda manager: chat)
    *_, final = abstractive(pool, "The river flooded the town after days of rain.", n_sentences=3)
    assert final == "The river flooded the town after days of heavy rain and wind."
