"""Document QA answer modes with a scripted chat model: generate, quote, and auto's fallback;
loops and prompt echoes never reach the answer."""

from __future__ import annotations

import re

import pytest

from lmdemo.docqa.loaders import document_from_text
from lmdemo.docqa.service import DocQAConfig, DocQAService
from lmdemo.errors import UserError
from lmdemo.models.pool import ModelPool
from lmdemo.models.types import SamplingParams
from lmdemo.settings import Settings
from tests.docqa_fakes import DOC, QUESTION, BagOfWords, Scripted


def _service(chat: Scripted, answer_sentences: int = 2) -> tuple[DocQAService, object]:
    pool = ModelPool(Settings(device="cpu"), lambda manager: chat)  # the app's pool (and its guard), nothing loaded
    service = DocQAService(BagOfWords(), pool, DocQAConfig(chunk_tokens=40, overlap_tokens=0, top_k=3,
                                                                min_relevance=0.0, relative_floor=0.0,
                                                                answer_sentences=answer_sentences))
    index = service.new_index()
    service.ingest_documents(index, [document_from_text("zorblat.md", DOC)])
    return service, index


def _answer(service: DocQAService, index, question: str, mode: str):
    *_, final = service.ask(index, question, SamplingParams(temperature=0), answer_mode=mode)
    return final


def test_quote_mode_answers_with_the_closest_sentences_cited_and_generates_nothing() -> None:
    chat = Scripted("unused")
    service, index = _service(chat)
    final = _answer(service, index, QUESTION, "quote")
    assert re.search(r"It was founded in 1987 by the engineer Maria Quell, who led it for ten years\. \[\d\]",
                     final.text)
    assert final.sources and final.how == "quoted from the passages" and not chat.prompts


def test_quote_ranks_sentences_by_the_question_s_words_where_the_encoder_cannot_read_it() -> None:
    """Chinese with an English encoder: every sentence's vector is the same noise, so closeness in meaning
    picked the top passage's first sentence, whatever was asked (the supply ship's sentence is not one)."""
    chat = Scripted("unused")
    service, index = _service(chat)
    service.ingest_documents(index, [document_from_text("站点.md", (
        "佐布拉特站是北冰洋冰架上的一座研究基地。佐布拉特站由工程师玛丽亚·奎尔于1987年建立。"
        "佐布拉特站用十二个传感器测量冰层的温度。佐布拉特站的补给船每年三月和九月到达。"))])
    supply = _answer(service, index, "补给船什么时候到佐布拉特站？", "quote")
    assert re.fullmatch(r"佐布拉特站的补给船每年三月和九月到达。 \[\d\]", supply.text), supply.text
    assert supply.sources[0].source == "站点.md"
    sensors = _answer(service, index, "佐布拉特站用什么测量冰层温度？", "quote")
    assert sensors.text.startswith("佐布拉特站用十二个传感器测量冰层的温度。"), sensors.text


def test_auto_quotes_when_no_passage_backs_the_generated_answer() -> None:
    chat = Scripted("I am a helpful assistant and I like penguins [1].")
    service, index = _service(chat)
    final = _answer(service, index, QUESTION, "auto")
    assert "Maria Quell" in final.text and "penguins" not in final.text
    assert "no passage backed the generated answer" in final.how and chat.prompts
    generated = _answer(service, index, QUESTION, "generate")
    assert generated.text == "I am a helpful assistant and I like penguins." and not generated.sources
    assert generated.how == "generated; no passage backs 1 of its sentences (left uncited)"


def test_auto_keeps_a_generated_answer_that_cites() -> None:
    chat = Scripted("Maria Quell founded it in 1987 [1].")
    service, index = _service(chat)
    final = _answer(service, index, QUESTION, "auto")
    assert final.text.startswith("Maria Quell founded it in 1987 [1]") and final.how == "generated"


def test_auto_leaves_out_the_sentences_no_passage_backs() -> None:
    backed, invented = "Maria Quell founded it in 1987 [1].", "She kept forty penguins as pets [1]."
    service, index = _service(Scripted(f"{backed} {invented}"))
    final = _answer(service, index, QUESTION, "auto")
    assert final.text == backed and [s.number for s in final.sources] == [1]
    assert final.how == "generated; left out what no passage backs (1 of its sentences)"
    generated = _answer(service, index, QUESTION, "generate")
    assert generated.text == f"{backed} She kept forty penguins as pets."


def test_a_looping_generation_is_cut_and_an_echo_is_stopped() -> None:
    chat = Scripted("Maria Quell founded the station [1]. ", loop="The station has twelve sensors [2]. ")
    service, index = _service(chat, answer_sentences=0)
    final = _answer(service, index, QUESTION, "generate")
    assert final.text.count("twelve sensors") == 1
    messages, params = chat.prompts[-1]
    assert params.repetition_guard and params.restatement_guard and "Question:" in params.stop
    assert messages[-1]["content"] == QUESTION


def test_a_sentence_restating_the_first_is_cut_with_its_unfinished_start() -> None:
    first = "Maria Quell founded the weather station on the lake in 1987 [1]."
    chat = Scripted(f"{first} In short, Maria Quell founded the weather station on the lake in 1987 [1].")
    service, index = _service(chat)
    final = _answer(service, index, QUESTION, "generate")
    assert final.text == first and [s.number for s in final.sources] == [1]


@pytest.mark.parametrize("limit, kept", [(1, 1), (2, 2), (0, 4)])
def test_a_generated_answer_ends_after_the_sentence_limit(limit: int, kept: int) -> None:
    """The rambling reply stops being read at the limit, its citations kept; 0 reads it all."""
    sentences = ["Maria Quell founded it in 1987. [1]", "She led it for ten years [1].",
                 "It measures the temperature of the ice [1].", "Its sensors number twelve [2]."]
    chat = Scripted(" ".join(sentences) + " And then it went on")
    service, index = _service(chat, answer_sentences=limit)
    final = _answer(service, index, QUESTION, "generate")
    assert final.text == " ".join(sentences[:kept])  # with no limit, the unfinished last one is dropped
    assert [s.number for s in final.sources] == ([1, 2] if kept == 4 else [1])
    if limit:
        assert chat.written < len(chat.reply) // 4  # the stream was closed, not read to its end


def test_an_unknown_mode_is_refused() -> None:
    service, index = _service(Scripted(""))
    with pytest.raises(UserError, match="Unknown answer mode"):
        _answer(service, index, QUESTION, "guess")


def test_sentences_after_a_heading_are_quotable_and_fragments_are_not() -> None:
    from lmdemo.docqa.answer import passage_sentences

    text = ("continued from the last passage and not whole.\n# Zorblat Station\n\n## History\n"
            "Zorblat Station was founded in 1987 by Maria Quell.\nIt measures the lake every hour of the day.\n\n"
            "## Equipment\nA thermistor chain with twelve sensors\n")
    found = passage_sentences(text)
    assert [sentence for _, sentence in found] == [
        "Zorblat Station was founded in 1987 by Maria Quell.", "It measures the lake every hour of the day."]
    assert all(text[offset:offset + 20] == sentence[:20] for offset, sentence in found)


def test_each_marker_in_the_answer_is_the_number_of_the_source_shown_for_it() -> None:
    """[n] in the text, sources[i].number and the passage the model saw as [n] are one and the same."""
    chat = Scripted("The station measures the ice with twelve sensors [2, 1]. Maria Quell founded it in 1987 [3].")
    service, index = _service(chat)
    final = _answer(service, index, QUESTION, "generate")
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", final.text)]
    assert markers[:2] == [2, 1] and [s.number for s in final.sources] == list(dict.fromkeys(markers))
    system = chat.prompts[0][0][0]["content"]
    for source in final.sources:
        shown = re.search(rf"\[{source.number}\] \([^)]*\)\n(.*?)(?=\n\n\[\d+\] \(|\Z)", system, re.S).group(1)
        assert shown.strip() == source.text.strip(), f"[{source.number}] is the passage the model saw as [{source.number}]"
        assert DOC[source.start:source.start + len(source.text)] == source.text, "and its offset is exact"


def test_hybrid_search_leaves_out_an_encoder_that_cannot_read_the_question() -> None:
    pool = ModelPool(Settings(device="cpu"), lambda manager: Scripted("unused"))
    service = DocQAService(BagOfWords(), pool, DocQAConfig(chunk_tokens=40, overlap_tokens=0, top_k=3))
    index = service.new_index()
    service.ingest_documents(index, [document_from_text("zorblat.md", DOC),
                                     document_from_text("注意力.md", "自注意力机制让每个词都能看到句子中的其他词。")])
    final = _answer(service, index, "什么是自注意力机制？", "quote")
    assert final.how == "摘自文档段落；编码器 bag-of-words 不认识问题中 89% 的字符，所以由关键词检索回答"  # in the question's language
    assert final.sources and final.sources[0].source == "注意力.md" and "自注意力机制" in final.text
    english = _answer(service, index, QUESTION, "quote")
    assert english.how == "quoted from the passages" and "Maria Quell" in english.text
    assert service._query_mode(index, "什么是自注意力机制？", "dense")[0] == "dense"  # asked for by name: kept


def test_another_documents_passages_far_below_the_best_are_not_given_to_the_model() -> None:
    pool = ModelPool(Settings(device="cpu"), lambda manager: Scripted("unused"))
    other = "Penguins live on the ice shelf near the station and eat fish."
    for floor in (0.0, 0.99):
        service = DocQAService(BagOfWords(), pool, DocQAConfig(chunk_tokens=40, overlap_tokens=0, top_k=4,
                                                                    min_relevance=0.0, relative_floor=floor))
        index = service.new_index()
        service.ingest_documents(index, [document_from_text("zorblat.md", DOC), document_from_text("penguins.md", other)])
        hits = service.retrieve(index, QUESTION)
        kept = service._relevant(hits, keywords_only=False)
        sources = {h.passage.source for h in kept}
        assert hits[0].passage.source == "zorblat.md" and "penguins.md" in {h.passage.source for h in hits}
        assert sources == ({"zorblat.md", "penguins.md"} if floor == 0 else {"zorblat.md"})
        assert [h for h in kept if h.passage.source == "zorblat.md"] == [h for h in hits if h.passage.source == "zorblat.md"]


def test_quote_skips_a_document_sentence_that_loops() -> None:
    """A sentence of the document repeating a five-word run is no answer, however close to the question."""
    from lmdemo.docqa.index import Hit
    from lmdemo.docqa.splitting import Passage

    looping = "It was founded in 1987 by Maria Quell, " * 3 + "the engineer. "
    text = looping + "It was founded in 1987 by the engineer Maria Quell, who led it for ten years."
    service = DocQAService(BagOfWords(), None, DocQAConfig())
    hit = Hit(Passage(text, "zorblat.md", None, "", 0, len(text)), 1.0, 1.0, 1.0, 0)
    answer, cited = service.quote(QUESTION, [hit])
    assert answer == "It was founded in 1987 by the engineer Maria Quell, who led it for ten years. [1]" and cited == [1]
