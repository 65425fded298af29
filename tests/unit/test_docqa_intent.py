"""What a question asks for: a paper's problem, its approach or its results, in English and Chinese."""

from __future__ import annotations

import pytest

from lmdemo.docqa.intent import examples_for, intent_of


@pytest.mark.parametrize("question, expected", [
    ('What problem does the paper "Exploring Correlation of Dependency Relation Paths" address?', "problem"),
    ('What approach does the paper "Exploring Correlation of Dependency Relation Paths" propose?', "approach"),
    ('What are the main results of the paper "Exploring Correlation of Dependency Relation Paths"?', "results"),
    ("What challenge does parsing tweets pose?", "problem"),
    ("Which method do the authors use?", "approach"),
    ("How well does the new parser perform?", "results"),
    ("What problem does the proposed method solve?", "problem"),
    ("这篇论文要解决什么问题？", "problem"),
    ("论文提出了什么方法？", "approach"),
    ("实验结果如何？", "results"),
])
def test_the_kind_of_answer_comes_from_the_question_words(question: str, expected: str) -> None:
    intent = intent_of(question)
    assert intent is not None and intent.name == expected


@pytest.mark.parametrize("question, expected", [
    ('What problem does the paper "A Neural Approach to Better Results" address?', "problem"),
    ("What are the results of “Methods for Solving Problems”?", "results"),
    ("《一种新的方法》的实验结果如何？", "results"),
])
def test_a_quoted_title_does_not_decide_the_kind(question: str, expected: str) -> None:
    assert intent_of(question).name == expected


@pytest.mark.parametrize("question", ["When was Zorblat Station founded, and by whom?", "Why did the station close?", "谁创建了这个站？", ""])
def test_other_questions_have_no_intent(question: str) -> None:
    assert intent_of(question) is None


def test_examples_come_in_the_questions_language() -> None:
    english, chinese = intent_of("What are the main results?"), intent_of("实验结果如何？")
    assert all(example.isascii() for example in examples_for(english, "What are the main results?"))
    assert all("结果" in example for example in examples_for(chinese, "实验结果如何？"))
