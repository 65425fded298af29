"""Citations are checked against the passages; matched words are found for highlighting."""

from __future__ import annotations

from lmdemo.docqa.answer import Attributed, attribute, build_messages, matched_terms
from lmdemo.docqa.index import Hit
from lmdemo.docqa.splitting import Passage


def _hits(*texts: str) -> list[Hit]:
    return [Hit(Passage(t, f"doc{i}.md", i or None, "", 0, len(t)), 1.0, 0.5, 1.0, i) for i, t in enumerate(texts)]


HITS = _hits(
    "Zorblat Station was founded in 1987 by the engineer Maria Quell.",
    "The thermistor chain has twelve sensors and was replaced in 2019.",
)


def test_prompt_numbers_the_passages_and_names_their_sources() -> None:
    system, user = build_messages("Who founded it?", HITS)
    assert "[1] (doc0.md)" in system["content"] and "[2] (doc1.md, page 1)" in system["content"]
    assert user == {"role": "user", "content": "Who founded it?"}, "no 'Question:' label for the model to echo"


def test_valid_markers_are_kept_and_invalid_ones_dropped() -> None:
    assert attribute("Maria Quell founded it [1]. Bananas are sold there [7].", HITS) == (
        "Maria Quell founded it [1]. Bananas are sold there.", [1], 1)


def test_a_sentence_whose_marker_was_wrong_is_attributed_by_its_words() -> None:
    assert attribute("Maria Quell founded it [1]. It has twelve sensors [7].", HITS) == (
        "Maria Quell founded it [1]. It has twelve sensors. [2]", [1, 2], 0)
    assert attribute("It has twelve sensors [1].", HITS) == ("It has twelve sensors. [2]", [2], 0), (
        "passage 1 shares none of its words")


def test_grouped_markers_cite_each_passage_in_the_order_written() -> None:
    assert attribute("Maria Quell founded it and it has twelve sensors [2, 1].", HITS) == (
        "Maria Quell founded it and it has twelve sensors [2][1].", [2, 1], 0)
    assert attribute("Maria Quell founded it [1,9].", HITS) == ("Maria Quell founded it [1].", [1], 0)


def test_uncited_sentences_are_attributed_by_overlap() -> None:
    assert attribute("The thermistor chain has twelve sensors. Nothing else matters here.", HITS) == (
        "The thermistor chain has twelve sensors. [2] Nothing else matters here.", [2], 1)


def test_unrelated_answer_cites_nothing() -> None:
    assert attribute("Bananas are yellow.", HITS) == ("Bananas are yellow.", [], 1)


def test_a_marker_stays_only_where_its_passage_backs_the_sentence() -> None:
    """Most of what the sentence says must be in the passage it cites; a true start is not enough."""
    claim = "Maria Quell founded it, loved penguins, played jazz and sailed home [1]."
    assert attribute(claim, HITS) == Attributed(claim.replace(" [1]", ""), [], 1)


def test_restating_the_question_backs_nothing() -> None:
    answer = "Zorblat Station was founded [1]. It was founded by Maria Quell [1]."
    assert attribute(answer, HITS, question="Who founded Zorblat Station?") == (
        "Zorblat Station was founded. It was founded by Maria Quell [1].", [1], 1)
    assert attribute(answer, HITS).cited == [1] and attribute(answer, HITS).unbacked == 0, "without the question"


def test_backed_only_leaves_out_what_no_passage_backs() -> None:
    answer = "Maria Quell founded it [1]. She kept forty penguins as pets [1]. The chain has twelve sensors."
    assert attribute(answer, HITS, backed_only=True) == (
        "Maria Quell founded it [1]. The chain has twelve sensors. [2]", [1, 2], 1)
    assert attribute("Bananas are yellow [1].", HITS, backed_only=True) == ("", [], 1)


def test_matched_terms_come_from_question_and_answer() -> None:
    terms = matched_terms(HITS[0].passage.text, "Who founded Zorblat?", "Maria Quell did.")
    assert terms == ["founded", "Maria", "Quell", "Zorblat"]


def test_a_chinese_question_gets_chinese_instructions_and_messages() -> None:
    from lmdemo.docqa.answer import NOT_FOUND, not_found

    system, user = build_messages("谁建立了这个站？", HITS)
    assert system["content"].startswith("请只根据下面编号的段落") and "[1] (doc0.md)" in system["content"]
    assert user["content"] == "谁建立了这个站？"
    assert build_messages("Who founded it?", HITS)[0]["content"].startswith("Answer the user's question")
    assert not_found("火星上有多少人？") == "文档中没有这个问题的答案。" and not_found("How many?") == NOT_FOUND


def test_markers_after_the_full_stop_belong_to_the_sentence_before() -> None:
    answer = "Maria Quell founded the station in 1987. [1] It has twelve sensors. [2]"
    assert attribute(answer, HITS) == (answer, [1, 2], 0)
    assert attribute(answer + "[1]", HITS) == (answer, [1, 2], 0), "passage 1 shares no word with the second"
