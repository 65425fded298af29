"""Document QA: ingest files into a user's index, retrieve, and answer with checked citations.

The service holds no user data: each call gets the user's DocumentIndex from the caller
(the UI keeps it in the Gradio session; the CLI keeps it for one run).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from lmdemo.docqa.answer import (
    ECHO_STOPS,
    QUOTE_LENGTH_WEIGHT,
    QUOTE_RANK_PENALTY,
    QUOTE_SENTENCES,
    QUOTE_WORDS,
    attribute,
    build_messages,
    how,
    matched_terms,
    not_found,
    passage_label,
    passage_sentences,
    place,
)
from lmdemo.docqa.index import DocumentIndex, Embedder, FusionConfig, Hit, Mode, keyword_scores
from lmdemo.docqa.intent import examples_for, intent_of
from lmdemo.docqa.loaders import IngestError, LoadedDocument, load_document
from lmdemo.docqa.splitting import Splitter
from lmdemo.errors import UserError
from lmdemo.models.priority import PATIENCE, Foreground
from lmdemo.models.repetition import loops
from lmdemo.models.types import SamplingParams
from lmdemo.sentences import reply_text
from lmdemo.text import clean_user_text
from lmdemo.words import is_chinese, words

if TYPE_CHECKING:
    from lmdemo.models.backend import ChatBackend

Progress = Callable[[float, str], None]
EMBED_BATCH = 64  # passages per background step: batches well, and a reply waits at most one step
log = logging.getLogger(__name__)
AnswerMode = Literal["auto", "generate", "quote"]
ANSWER_MODES: tuple[AnswerMode, ...] = ("auto", "generate", "quote")


@dataclass(frozen=True)
class DocQAConfig:
    """Retrieval settings (from Settings), tuned on the aclsum dev set."""

    chunk_tokens: int = 200
    overlap_tokens: int = 30
    top_k: int = 4
    mode: Mode = "hybrid"
    min_relevance: float = 0.25
    # Passages of other documents than the best passage's, scoring under this share of it, are not
    # given to the model: on the ACLSum questions the best passage is from the asked paper 99.8% of
    # the time, but 15% of the top four held another paper's passage, which the small model then
    # cited first. (Cutting the best document's own weaker passages too left the best one alone,
    # often a title and abstract with no sentence to quote: quote's asked-paper-first fell to 0.76.)
    relative_floor: float = 0.8
    answer_mode: AnswerMode = "auto"
    # A generated answer ends after this many sentences (0: no limit), as the prompt asks: the small
    # model wrote 86 words on average where the human answer has 22, and its later sentences drift.
    answer_sentences: int = 2
    max_file_mb: float = 50.0
    fusion: FusionConfig = field(default_factory=FusionConfig)


def _passages(count: int, chinese: bool = False) -> str:
    if chinese:
        return f"{count} 个段落"
    return f"{count} passage" if count == 1 else f"{count} passages"


@dataclass(frozen=True)
class IngestReport:
    """What one ingest did: per-file passage counts and per-file errors."""

    added: list[tuple[str, int]]
    errors: list[UserError]  # one per file that was not indexed
    total_passages: int
    search: tuple[str, str] = ("", "")  # what search can do now (semantic search may still be on its way), en / zh

    def summary(self, chinese: bool = False) -> str:
        lines = [f"✓ {name}: {_passages(count, chinese)}" for name, count in self.added]
        lines += [f"✗ {error.said(chinese)}" for error in self.errors]
        total = _passages(self.total_passages, chinese)
        lines.append(f"共索引 {total}；{self.search[1]}。" if chinese else f"{total} indexed in total; {self.search[0]}.")
        return "\n".join(lines)


@dataclass(frozen=True)
class Source:
    """A passage the answer cites, ready to show."""

    number: int
    label: str
    source: str
    page: int | None
    heading: str
    score: float
    text: str
    start: int
    matched: list[str]

    def as_dict(self) -> dict:
        return {
            "number": self.number,
            "source": self.source,
            "page": self.page,
            "heading": self.heading,
            "score": round(self.score, 4),
            "start": self.start,
            "text": self.text,
            "matched": self.matched,
        }


@dataclass(frozen=True)
class AnswerUpdate:
    """The answer so far; `sources`, `done` and `how` (which mode answered, and why) are set on the last update."""

    text: str
    sources: list[Source] = field(default_factory=list)
    done: bool = False
    how: str = ""


class DocQAService:
    """Ingestion, retrieval and grounded answering over a per-user DocumentIndex."""

    def __init__(self, embedder: Embedder, chat: ChatBackend, config: DocQAConfig,
                 foreground: Foreground | None = None) -> None:
        """`foreground`: replies being generated, which background embedding lets go first."""
        self._embedder = embedder
        self._chat = chat
        self._foreground = foreground
        self.config = config
        self._splitter: Splitter | None = None
        self._splitter_encoder = ""
        self._splitter_lock = threading.Lock()

    def new_index(self) -> DocumentIndex:
        return DocumentIndex(fusion=self.config.fusion)

    def splitter(self) -> Splitter:
        """Passages are sized with the encoder's tokenizer (a new one after the encoder is switched)."""
        with self._splitter_lock:
            encoder = self._embedder.name()
            if self._splitter is None or self._splitter_encoder != encoder:
                self._splitter = Splitter(
                    self._embedder.tokenizer(), self.config.chunk_tokens, self.config.overlap_tokens
                )
                self._splitter_encoder = encoder
            return self._splitter

    def _same_encoder(self, index: DocumentIndex) -> str:
        """The encoder now in use, refused for an index whose vectors another encoder made."""
        current = self._embedder.name()
        if len(index) and index.encoder and index.encoder != current:
            raise UserError(
                f"These documents were indexed with the encoder {index.encoder}; the app now uses {current}, "
                "whose vectors do not match theirs. Press “Remove all” and index them again.",
                f"这些文档是用编码器 {index.encoder} 索引的；应用现在用的是 {current}，两者的向量不相容。"
                "请按“全部移除”，再重新索引。"
            )
        return current

    def ingest_documents(
        self, index: DocumentIndex, documents: Sequence[LoadedDocument], progress: Progress | None = None,
        wait: bool = True,
    ) -> list[tuple[str, int]]:
        """Split and index documents already loaded; returns (name, passages) per document.

        Keyword search is ready on return. The passages' vectors are computed now (`wait`) or in a
        background thread, while questions are answered by keyword search alone.
        """
        report = progress or (lambda fraction, message: None)
        encoder = self._same_encoder(index)
        splitter = self.splitter()
        passages, counts = [], []
        for i, document in enumerate(documents):
            report(0.1 * i / max(len(documents), 1), f"splitting {document.name}")
            pieces = splitter.split(document)
            passages.extend(pieces)
            counts.append((document.name, len(pieces)))
        report(0.1, "building the keyword index")
        start = index.add(passages)
        index.encoder = encoder
        texts = [p.text for p in passages]
        if wait:
            self._embed(index, start, texts, report)
        else:
            threading.Thread(target=self._embed, args=(index, start, texts, None), daemon=True,
                             name="lmdemo-embed-passages").start()
        return counts

    def _embed(self, index: DocumentIndex, start: int, texts: list[str], report: Progress | None) -> None:
        """Embed passages `start…` in batches, after those ingested before them; stop if the index is dropped."""
        try:
            if not index.wait_turn(start):
                return
            for i in range(0, len(texts), EMBED_BATCH):
                with self._step(report is None):
                    if index.cancelled:
                        return
                    vectors = self._embedder.embed(texts[i:i + EMBED_BATCH])
                index.fill(start + i, vectors)
                if report is not None:
                    done = min(i + EMBED_BATCH, len(texts))
                    report(0.1 + 0.9 * done / len(texts), f"embedding passages {done}/{len(texts)}")
        except Exception as error:
            index.failed(f"{type(error).__name__}: {error}")
            if report is not None:
                raise
            log.exception("embedding passages in the background failed")

    def _step(self, background: bool) -> AbstractContextManager[None]:
        """A batch embedded in the background goes between replies (see lmdemo/models/priority.py)."""
        return self._foreground.step(PATIENCE) if background and self._foreground is not None else nullcontext()

    def ingest(
        self, index: DocumentIndex, files: Sequence[tuple[Path, str]], progress: Progress | None = None,
        wait: bool = True,
    ) -> IngestReport:
        """Load, split and index uploaded files (embedded now, or in the background unless `wait`);
        a bad file is reported, the rest go in."""
        report = progress or (lambda fraction, message: None)
        documents, errors = [], []
        max_bytes = int(self.config.max_file_mb * 2**20)
        known = set(index.sources())
        for path, name in files:
            report(0.0, f"reading {name}")
            if name in known:
                errors.append(IngestError(f"{name}: already indexed", f"{name}：已经索引过了"))
                continue
            try:
                documents.append(load_document(path, name, max_bytes))
                known.add(name)
            except IngestError as error:
                errors.append(error)
        added = self.ingest_documents(index, documents, report, wait) if documents else []
        report(1.0, "done")
        return IngestReport(added, errors, len(index), (index.search_status(), index.search_status(chinese=True)))

    def retrieve(self, index: DocumentIndex, query: str, k: int | None = None, mode: Mode | None = None) -> list[Hit]:
        return self.retrieve_many(index, [query], k, mode)[0]

    def retrieve_many(
        self, index: DocumentIndex, queries: Sequence[str], k: int | None = None, mode: Mode | None = None
    ) -> list[list[Hit]]:
        """Top passages for each query; the queries that need a vector are embedded in one batch."""
        modes = [self._query_mode(index, q, mode)[0] for q in queries]
        dense = [q for q, m in zip(queries, modes) if m != "bm25"]
        if dense:
            self._same_encoder(index)
        vectors = iter(self._embedder.embed(dense) if dense else [])
        return [index.search(q, next(vectors) if m != "bm25" else None, k or self.config.top_k, m)
                for q, m in zip(queries, modes)]

    def _query_mode(self, index: DocumentIndex, query: str, mode: Mode | None) -> tuple[Mode, str]:
        """The retrieval mode asked for, or keyword search, and why: while the passages' vectors are
        still coming, or, in hybrid mode, when the encoder cannot read the question (its vector would
        only add noise: zh-news hybrid recall@1 0.89 against 0.90 for keywords alone, with MiniLM)."""
        mode = mode or self.config.mode
        if mode == "bm25":
            return mode, ""
        if not index.ready:
            return "bm25", how(query, "vectors_pending", status=index.search_status(is_chinese(query)))
        read = self._embedder.coverage(query) if mode == "hybrid" else None
        if read is not None and read.poor:
            return "bm25", how(query, "unreadable", encoder=self._embedder.name(), share=read.share_unknown)
        return mode, ""

    def _relevant(self, hits: Sequence[Hit], keywords_only: bool) -> list[Hit]:
        """Passages close in meaning, or sharing keywords and at least loosely related
        (sharing keywords is enough while there are no vectors to judge meaning); another
        document's passage only when it scores nearly as well as the best."""
        if keywords_only:
            kept = [h for h in hits if h.bm25 > 0]
        else:
            floor = self.config.min_relevance
            kept = [h for h in hits if h.dense >= floor or (h.bm25 > 0 and h.dense >= floor / 2)]
        if not kept or kept[0].score <= 0:
            return kept
        best = kept[0]
        return [h for h in kept
                if h.passage.source == best.passage.source or h.score >= self.config.relative_floor * best.score]

    def ask(
        self,
        index: DocumentIndex,
        question: str,
        params: SamplingParams,
        k: int | None = None,
        mode: Mode | None = None,
        answer_mode: AnswerMode | None = None,
    ) -> Iterator[AnswerUpdate]:
        """Stream an answer grounded in the user's documents, then the sources it cites.

        `answer_mode`: "generate" (the chat model writes it), "quote" (the passages' sentences
        closest to the question, no generation) or "auto" (generate, keep the sentences that the
        passages back, and quote instead when none is).
        """
        answer_mode = answer_mode or self.config.answer_mode
        if answer_mode not in ANSWER_MODES:
            raise UserError(f"Unknown answer mode {answer_mode!r}; choose one of {', '.join(ANSWER_MODES)}.")
        question = clean_user_text(question).strip()
        if not question:
            raise UserError("Type a question first.", "请先输入问题。")
        if len(index) == 0:
            raise UserError("Upload and index some documents first.", "请先上传并索引一些文档。")
        used, why = self._query_mode(index, question, mode)
        hits = self._relevant(self.retrieve(index, question, k, used), used == "bm25")
        searched = ("；" if is_chinese(question) else "; ") + why if why else ""
        if not hits:
            yield AnswerUpdate(not_found(question), [], True, how(question, "nothing") + searched)
            return
        made = how(question, "quoted")
        answer, cited = "", []
        if answer_mode != "quote":
            text = ""
            for text in self._generate(question, hits, params):
                yield AnswerUpdate(text)
            answer, cited, unbacked = attribute(text, hits, question, backed_only=answer_mode == "auto")
            made = how(question, "generated")
            if unbacked:
                made = how(question, "generated_trimmed" if answer_mode == "auto" else "generated_unbacked",
                           count=unbacked)
            if not cited and answer_mode == "auto":
                made = how(question, "quoted_instead")
        if answer_mode == "quote" or (answer_mode == "auto" and not cited):
            answer, cited = self.quote(question, hits)
        sources = [self._source(hits, n, question, answer) for n in cited]
        yield AnswerUpdate(answer or not_found(question), sources, True, made + searched)

    def _generate(self, question: str, hits: Sequence[Hit], params: SamplingParams) -> Iterator[str]:
        """The generated answer as it grows; loops, prompt echoes and the sentence limit end it, and
        it ends with a whole sentence."""
        params = replace(params, repetition_guard=True, restatement_guard=True, stop=tuple(params.stop) + ECHO_STOPS)
        yield from reply_text(self._chat.stream(build_messages(question, hits), params), self.config.answer_sentences)

    def quote(self, question: str, hits: Sequence[Hit]) -> tuple[str, list[int]]:
        """The passages' sentence that best answers the question, cited; no generation.

        A sentence scores by its closeness in meaning to the question; when the question asks for a
        paper's problem, approach or results (`intent_of`), also by its closeness to sentences that
        state such a thing, by an early place in its document where that is where it is stated, and
        by a length near a one-sentence answer's. Where the encoder cannot read the question (Chinese
        with the English default), its vectors would rank sentences by noise; the question's keywords
        rank them instead (bench/qa_zh.py: the asked sentence 0.893 against 0.643); the kinds of question
        above are told apart by the meaning of example sentences, so they are left out there too.
        """
        candidates = [(n, offset, sentence) for n, hit in enumerate(hits, start=1)
                      for offset, sentence in passage_sentences(hit.passage.text) if not loops(sentence)]
        if not candidates:
            return "", []
        ranks = np.array([n - 1 for n, _, _ in candidates], dtype=np.float32)
        if self._embedder.coverage(question).poor:
            said = keyword_scores(question, [sentence for _, _, sentence in candidates])
            return self._quoted(candidates, said / max(float(said.max()), 1e-6) - QUOTE_RANK_PENALTY * ranks)
        intent = intent_of(question)
        examples = examples_for(intent, question) if intent else ()
        vectors = self._embedder.embed([question, *examples] + [sentence for _, _, sentence in candidates])
        sentences = vectors[1 + len(examples):]
        scores = sentences @ vectors[0]
        if intent is None:
            scores -= QUOTE_RANK_PENALTY * ranks
        else:
            kind = vectors[1:1 + len(examples)].mean(axis=0)
            places = np.array([place(hits[n - 1].passage, offset) for n, offset, _ in candidates], dtype=np.float32)
            lengths = np.array([max(1, sum(1 for _ in words(sentence))) for _, _, sentence in candidates])
            scores += (intent.likeness * sentences @ (kind / np.linalg.norm(kind))
                       - intent.early * np.log1p(places / 1000) - intent.rank_penalty * ranks
                       - QUOTE_LENGTH_WEIGHT * np.abs(np.log(lengths / QUOTE_WORDS)))
        return self._quoted(candidates, scores)

    @staticmethod
    def _quoted(candidates: Sequence[tuple[int, int, str]], scores: np.ndarray) -> tuple[str, list[int]]:
        """The best-scoring sentences, in document order, each with its passage's number."""
        best = sorted(np.argsort(-scores, kind="stable")[:QUOTE_SENTENCES], key=lambda i: candidates[i][:2])
        cited = list(dict.fromkeys(candidates[i][0] for i in best))
        return " ".join(f"{candidates[i][2]} [{candidates[i][0]}]" for i in best), cited

    @staticmethod
    def _source(hits: Sequence[Hit], n: int, question: str, answer: str) -> Source:
        hit = hits[n - 1]
        return Source(
            number=n,
            label=passage_label(hit),
            source=hit.passage.source,
            page=hit.passage.page,
            heading=hit.passage.heading,
            score=hit.score,
            text=hit.passage.text,
            start=hit.passage.start,
            matched=matched_terms(hit.passage.text, question, answer),
        )
