"""The repetition guard: loops are cut before the user sees them, normal text passes untouched."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lmdemo.models.repetition import RepetitionGuard, guard_repetition, loops
from lmdemo.models.types import Chunk


def _pieces(text: str, size: int = 3) -> list[str]:
    return [text[i:i + size] for i in range(0, len(text), size)]


def _guarded(text: str, size: int = 3, restatements: bool = False) -> tuple[str, list[str], bool]:
    guard = RepetitionGuard(restatements)
    shown = [guard.feed(p) for p in _pieces(text, size)]
    if not guard.stopped:
        shown.append(guard.feed("", final=True))
    return "".join(shown), shown, guard.stopped


class LoopingModel:
    """A fake model that writes one sentence and then repeats another forever; counts what it wrote."""

    def __init__(self, first: str, loop: str) -> None:
        self.first, self.loop, self.written, self.closed = first, loop, 0, False

    def stream(self) -> Iterator[Chunk]:
        try:
            for piece in _pieces(self.first):
                self.written += 1
                yield Chunk(piece, self.written, 10)
            while True:
                for piece in _pieces(self.loop):
                    self.written += 1
                    yield Chunk(piece, self.written, 10)
        finally:
            self.closed = True


def test_a_looping_model_is_cut_at_the_repeat_and_stopped() -> None:
    model = LoopingModel("The paper studies parsing. ", "It proposes a new parser for German. ")
    chunks = list(guard_repetition(model.stream()))
    text = "".join(c.text for c in chunks)
    assert text == "The paper studies parsing. It proposes a new parser for German."
    assert chunks[-1].finish_reason == "stop" and model.closed and model.written < 40


def test_the_repeated_sentence_is_never_shown_even_in_part() -> None:
    text, shown, stopped = _guarded("Results improve by 3 points [1]. Results improve by 3 points [2]. More.")
    assert stopped and text == "Results improve by 3 points [1]."
    assert not any("Results" in piece for piece in shown[shown.index(next(p for p in shown if "[1]" in p)) + 1:])


def test_a_phrase_loop_inside_one_sentence_is_cut_at_its_third_run() -> None:
    text, _, stopped = _guarded("We propose the new model and the new model and the new model and the new model and")
    assert stopped
    assert text.count("the new model and") == 2


def test_a_chinese_loop_is_cut() -> None:
    text, _, stopped = _guarded("本文提出了一种新方法。这种方法效果很好。这种方法效果很好。这种方法效果很好。")
    assert stopped and text == "本文提出了一种新方法。这种方法效果很好。"


def test_a_sentence_restating_an_earlier_one_is_cut_and_never_shown() -> None:
    first = "The paper shows that combining different data driven systems leads to higher accuracy. [1]"
    text, _, stopped = _guarded(f"The main results are:\n\n1. {first} 2. The paper demonstrates that combining "
                                "different data driven systems leads to higher accuracy than one. [1]", restatements=True)
    # the sentence's own start may have been shown, what it restates is not (Document QA drops the start)
    assert stopped and text.startswith(f"The main results are:\n\n1. {first} 2.")
    assert text.count("combining") == 1 and not text.endswith("[1]")


def test_an_unfinished_restatement_at_the_end_of_the_reply_is_cut() -> None:
    guard = RepetitionGuard(restatements=True)
    text = "It proposes a game-theoretic model of bargaining over a metaphor. Specifically, it proposes a "
    shown = guard.feed(text) + guard.feed("game-theoretic model of bargaining over a metaphor, which is", final=True)
    assert guard.stopped and shown == "It proposes a game-theoretic model of bargaining over a metaphor."


def test_a_chinese_restatement_is_cut() -> None:
    text, _, stopped = _guarded("本文提出了一种基于图的半监督翻译模型学习方法。具体来说，本文提出了一种基于图的半监督翻译模型。",
                                restatements=True)
    assert stopped and text.startswith("本文提出了一种基于图的半监督翻译模型学习方法。") and text.count("半监督") == 1


def test_restatements_count_only_when_asked_for() -> None:
    """Chat leaves parallel sentences alone; a short answer would end before the second."""
    text = ("Python is a high-level language with a vast ecosystem of libraries and frameworks. "
            "Java is a high-level language with a vast ecosystem of libraries and frameworks too.")
    shown, _, stopped = _guarded(text)
    assert not stopped and shown == text
    shown, _, stopped = _guarded(text, restatements=True)
    assert stopped and shown.startswith("Python is") and "frameworks too" not in shown


@pytest.mark.parametrize("text", [
    "The capital of France is Paris. It is a big city. Paris is also the largest French city.",
    "Step 1: open the file in the editor. Step 2: save the file in the editor.",
    "BERT achieves an F1 score of 91.2 on the SQuAD dev set [1]. RoBERTa achieves an F1 score of 94.6 on the "
    "SQuAD dev set [1, 2].",
    'The paper "Exploring Correlation of Dependency Relation Paths" studies answer extraction [1]. On TREC, '
    '"Exploring Correlation of Dependency Relation Paths" beats the baselines by 20% in MRR [2].',
    "First, we train. Then, we test. Finally, we report the results on the test set.",
    "The model reaches 91.2 F1 [1]. The baseline reaches 88.0 F1 [2].",
    "北京是中国的首都。上海是最大的城市。",
])
def test_ordinary_answers_pass_unchanged(text: str) -> None:
    for size in (1, 4, 50):
        for restatements in (False, True):
            shown, _, stopped = _guarded(text, size, restatements)
            assert not stopped and shown == text


def test_text_is_held_back_only_while_it_could_be_a_repeat() -> None:
    guard = RepetitionGuard()
    assert guard.feed("Alpha beta gamma delta. ") == ""  # its last five words may start a phrase loop
    shown = guard.feed("Epsilon zeta eta theta iota kappa lambda")
    assert shown.startswith("Alpha beta gamma delta.")
    assert guard.feed(" mu.", final=True).endswith("mu.")


def test_loops_tells_a_finished_text_that_repeats_itself() -> None:
    assert loops('Nonsense such as "green ideas ideas ideas ideas ideas ideas ideas ideas sleep" was included.')
    assert loops("The model is fast. The model is fast.")
    assert not loops("The model is fast. It is also small, and it runs on a laptop.")
