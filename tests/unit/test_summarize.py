"""Extractive summaries: the sentences covering a text's recurring concepts, in document order; sentence
splitting; abstractive summaries' ends."""

from __future__ import annotations

import pytest

from lmdemo.errors import UserError
from lmdemo.models.pool import ModelPool
from lmdemo.settings import Settings
from lmdemo.tasks.summarize import abstractive, extractive, sentences
from tests.docqa_fakes import Scripted

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


def test_extractive_picks_a_sentence_about_what_the_text_comes_back_to() -> None:
    summary = extractive(TEXT, 1)
    assert summary in sentences(TEXT) and "river" in summary and "town" in summary, summary


def test_a_second_pick_covers_something_new_and_the_picks_keep_document_order() -> None:
    text = (
        "The river flood hit the town on Monday morning. The river flood hit the town on Monday evening. "
        "The festival band played music in the town square. The festival band music drew large crowds."
    )
    summary = extractive(text, 2, min_words=1)
    picked = [s for s in sentences(text) if s in summary]
    assert summary == " ".join(picked)
    assert summary.count("river flood") == 1 and summary.count("festival band") == 1, summary


def test_inflected_words_count_as_one_concept() -> None:
    """flooded, flooding, floods: one concept in three sentences, outweighing "music" in two."""
    text = ("Heavy rain flooded the valley. Music lovers met downtown. Farmers feared flooding every spring. "
            "The music hall closed early. Floods ruined the harvest.")
    assert extractive(text, 1, min_words=1, lead_bias=0.0) == "Floods ruined the harvest."


def test_earlier_and_shorter_sentences_win_when_they_cover_the_same() -> None:
    text = ("Solar panels cut the school's power bills. Wind turbines were discussed too. "
            "Solar panels cut the school's power bills, the headteacher said at length on local radio. "
            "Solar panels cut power bills.")
    assert extractive(text, 1, min_words=1) == "Solar panels cut the school's power bills."
    assert extractive(text, 1, min_words=1, lead_bias=0.0) == "Solar panels cut power bills."


def test_short_text_is_returned_whole_and_empty_text_refused() -> None:
    assert extractive("One sentence only here.", 3) == "One sentence only here."
    with pytest.raises(UserError):
        extractive("   ", 3)


def test_chinese_text_is_summarised_by_its_words() -> None:
    text = ("人工智能正在改变医疗行业。医生使用人工智能分析医学影像。今天天气晴朗，适合散步。"
            "人工智能帮助医生更快发现疾病。")
    summary = extractive(text, 2, min_words=1, lead_bias=0.0)
    assert "天气" not in summary and summary.count("人工智能") == 2, summary


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
    summary = extractive(ZH_ARTICLE, 3)
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
