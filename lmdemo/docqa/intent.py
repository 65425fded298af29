"""What a question about a paper or report asks for: the problem it addresses, its approach, its results.

Quote mode answers with the passage sentence that scores best. Closeness to the question alone picks
sentences about the question's topic, and a question like "What are the main results of the paper
"X"?" is mostly its title: the quoted sentence then restated the title. Classic QA systems first
decide what kind of answer a question wants; here each kind has sentences of the sort that state it
(in English and Chinese, the encoder reads them once per answer) and a place in the document where
it is usually stated (problems open the abstract and the introduction).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lmdemo.words import is_chinese


@dataclass(frozen=True)
class Intent:
    """A kind of question, how to recognise it, and how quote mode weighs a candidate sentence for it."""

    name: str
    pattern: re.Pattern[str]
    examples: tuple[str, ...]  # sentences of the kind that answer it, in English
    examples_zh: tuple[str, ...]  # and in Chinese, for Chinese questions
    likeness: float  # weight of the closeness to the examples, beside the closeness to the question (1)
    early: float  # weight of an early place in the document (per log of its offset in thousands of characters)
    rank_penalty: float  # per place of the sentence's passage in the search results


INTENTS: tuple[Intent, ...] = (
    Intent(
        "results",
        re.compile(r"\b(results?|findings?|outcomes?|conclu(?:de|sions?)|perform(?:s|ance)?|achieve[sd]?|evaluat\w*)\b"
                   r"|结果|结论|效果|表现|发现", re.IGNORECASE),
        ("Experiments show that the proposed method outperforms the baselines and achieves state-of-the-art results.",
         "The results demonstrate significant improvements over previous work.",
         "Our approach achieves better accuracy on the benchmark datasets."),
        ("实验结果表明，该方法优于基线模型，取得了最好的效果。", "结果显示，与以往的工作相比有显著的提升。"),
        likeness=3.0, early=0.0, rank_penalty=0.0,
    ),
    Intent(
        "approach",
        re.compile(r"\b(approach(?:es)?|methods?|propose[sd]?|techniques?|architecture|algorithms?)\b"
                   r"|方法|提出|算法|怎么做", re.IGNORECASE),
        ("In this paper, we propose a new method that models this task.",
         "We introduce a novel approach based on a neural model.",
         "Our model uses a framework that learns representations."),
        ("本文提出了一种新的方法来建模这个任务。", "我们设计了一个基于神经网络的模型。"),
        likeness=1.0, early=0.1, rank_penalty=0.05,
    ),
    Intent(
        "problem",
        re.compile(r"\b(problems?|challenges?|address(?:es)?|motivat(?:es?|ion)|tackles?|issues?|limitations?)\b"
                   r"|问题|挑战|解决|动机|为什么", re.IGNORECASE),
        ("The problem is that existing methods fail to handle this task well.",
         "However, previous approaches suffer from a major limitation.",
         "This task remains challenging because of the lack of data."),
        ("然而，现有的方法难以很好地处理这个问题。", "由于缺少数据，这个任务仍然很有挑战性。"),
        likeness=1.0, early=0.5, rank_penalty=0.0,
    ),
)


# A title or phrase quoted in the question: its words ("A Neural Approach to …") say nothing of what is asked.
_QUOTED = re.compile(r"\"[^\"]*\"|“[^”]*”|「[^」]*」|《[^》]*》|'[^']{8,}'")


def intent_of(question: str) -> Intent | None:
    """The kind of answer the question asks for: the intent whose words come first in it (the question's
    head noun: "What *problem* does the proposed method solve?"), quoted titles left out; None for others."""
    asked = _QUOTED.sub(" ", question)
    found = [(match.start(), i) for i, intent in enumerate(INTENTS) if (match := intent.pattern.search(asked))]
    return INTENTS[min(found)[1]] if found else None


def examples_for(intent: Intent, question: str) -> tuple[str, ...]:
    """The intent's example answers in the question's language."""
    return intent.examples_zh if is_chinese(question) else intent.examples
