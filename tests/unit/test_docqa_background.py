"""Ask at once: keyword search works as soon as documents are indexed, vectors arrive in the
background (in order, across ingests), and the finished index equals a blocking ingest's."""

from __future__ import annotations

import threading

import numpy as np

from lmdemo.docqa.index import DocumentIndex
from lmdemo.docqa.loaders import document_from_text
from lmdemo.docqa.splitting import Passage
from lmdemo.docqa.service import DocQAConfig, DocQAService
from lmdemo.errors import UserError
from lmdemo.models.pool import ModelPool
from lmdemo.models.types import SamplingParams
from lmdemo.settings import Settings
from tests.docqa_fakes import DOC, QUESTION, BagOfWords, Scripted

OTHER = ("The supply ship Ardent was built in 1990 in a small harbour. "
         "It carries fuel, food and mail to the station twice a year.")


def _service(encoder: BagOfWords) -> DocQAService:
    pool = ModelPool(Settings(device="cpu"), lambda manager: Scripted("unused"))
    return DocQAService(encoder, pool, DocQAConfig(chunk_tokens=40, overlap_tokens=0, top_k=3, min_relevance=0.0))


def _quote(service: DocQAService, index):
    *_, final = service.ask(index, QUESTION, SamplingParams(temperature=0), answer_mode="quote")
    return final


def test_a_question_asked_while_vectors_are_coming_is_answered_by_keyword_search_and_says_so() -> None:
    encoder = BagOfWords()
    service = _service(encoder)
    index = service.new_index()
    encoder.gate.clear()  # the encoder is slow: no vector arrives until the gate opens
    service.ingest_documents(index, [document_from_text("zorblat.md", DOC)], wait=False)
    assert len(index) >= 2 and index.embedded == 0 and not index.ready
    assert index.search_status().startswith("keyword search ready; semantic search 0%")
    final = _quote(service, index)
    assert "Maria Quell" in final.text and "so keyword search answered" in final.how
    encoder.gate.set()
    assert index.wait_ready(timeout=30)
    assert index.search_status() == "keyword and semantic search ready"
    assert "keyword" not in _quote(service, index).how


def test_a_second_ingest_while_the_first_embeds_ends_identical_to_blocking_ingests() -> None:
    documents = [document_from_text("zorblat.md", DOC), document_from_text("ship.md", OTHER)]
    encoder = BagOfWords()
    service = _service(encoder)
    blocking = service.new_index()
    for document in documents:
        service.ingest_documents(blocking, [document])

    background = service.new_index()
    encoder.gate.clear()
    for document in documents:
        service.ingest_documents(background, [document], wait=False)
    assert background.sources() == ["zorblat.md", "ship.md"] and background.embedded == 0
    encoder.gate.set()
    assert background.wait_ready(timeout=30)
    assert [p.text for p in background.passages] == [p.text for p in blocking.passages]
    np.testing.assert_array_equal(background.vectors, blocking.vectors)
    for question in (QUESTION, "What does the supply ship carry?"):
        assert ([h.passage.text for h in service.retrieve(background, question)]
                == [h.passage.text for h in service.retrieve(blocking, question)])


def test_removing_the_documents_stops_their_embedding() -> None:
    encoder = BagOfWords()
    service = _service(encoder)
    index = service.new_index()
    encoder.gate.clear()
    long_document = document_from_text("long.md", " ".join([DOC] * 200))
    service.ingest_documents(index, [long_document], wait=False)
    index.cancel()
    encoder.gate.set()
    assert not index.wait_ready(timeout=5)
    assert encoder.calls <= 1, "no batch after the one already running"


def test_background_embedding_waits_while_a_reply_is_generated() -> None:
    from lmdemo.models.priority import Foreground

    encoder = BagOfWords()
    foreground = Foreground()
    pool = ModelPool(Settings(device="cpu"), lambda manager: Scripted("unused"))
    service = DocQAService(encoder, pool, DocQAConfig(chunk_tokens=40, overlap_tokens=0, top_k=3, min_relevance=0.0),
                           foreground)
    index = service.new_index()
    with foreground.active():
        service.ingest_documents(index, [document_from_text("zorblat.md", DOC)], wait=False)
        assert not index.wait_ready(timeout=1.0) and index.embedded == 0, "a reply is generating: embedding waits"
    assert index.wait_ready(timeout=30) and index.embedded == len(index)


def test_the_pool_counts_a_reply_as_foreground_until_it_ends() -> None:
    pool = ModelPool(Settings(device="cpu"), lambda manager: Scripted("Maria Quell founded it. [1]"))
    stream = pool.stream([{"role": "user", "content": "hi"}], SamplingParams(temperature=0))
    next(stream)
    stepped = threading.Event()

    def background_step() -> None:
        with pool.foreground.step(30.0):
            stepped.set()

    waiting = threading.Thread(target=background_step)
    waiting.start()
    assert not stepped.wait(0.2), "a reply is streaming: no background step starts"
    stream.close()
    assert stepped.wait(5), "the reply ended"
    waiting.join(5)


def test_the_search_status_and_the_ingest_report_speak_chinese_when_asked() -> None:
    from lmdemo.docqa.service import IngestReport

    index = DocumentIndex()
    assert index.search_status(chinese=True) == "还没有文档"
    index.add([Passage("自注意力。", "a.md", None, "", 0, 5), Passage("多头。", "a.md", None, "", 5, 8)])
    assert index.search_status(chinese=True) == "关键词检索已就绪；语义检索 0%（0/2 个段落）"
    encrypted = UserError("b.pdf: encrypted", "b.pdf：已加密")
    report = IngestReport([("a.md", 2)], [encrypted], 2, (index.search_status(), index.search_status(True)))
    assert report.summary() == ("✓ a.md: 2 passages\n✗ b.pdf: encrypted\n"
                                "2 passages indexed in total; keyword search ready; semantic search 0% (0 of 2 passages).")
    assert "✗ b.pdf：已加密\n" in report.summary(chinese=True)
    assert report.summary(chinese=True).endswith("共索引 2 个段落；关键词检索已就绪；语义检索 0%（0/2 个段落）。")
