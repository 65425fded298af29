"""One user's searchable documents: dense vectors from the encoder plus a BM25 index, fused.

The BM25 index is rebuilt from stored token lists once per ingest (adding files extends the
stored corpus), never per query. Hybrid ranking blends BM25 (scaled by the query's best
score) with cosine similarity; weighted reciprocal rank fusion is the alternative. On the
aclsum dev set the blend beats BM25 alone where RRF loses to it (bench/retrieval.py).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np

from lmdemo.docqa.splitting import Passage
from lmdemo.models.coverage import Coverage
from lmdemo.words import keyword_text

Mode = Literal["hybrid", "dense", "bm25"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "bm25")


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors (local sentence-transformers, or a remote API)."""

    def embed(self, texts: Sequence[str], progress: Callable[[int], None] | None = None) -> np.ndarray: ...

    def tokenizer(self) -> Any:
        """The encoder's tokenizer, which sizes the passages."""

    def coverage(self, texts: str | Sequence[str]) -> Coverage:
        """How much of `texts` the encoder can read: its vectors for text it cannot are noise."""

    def name(self) -> str:
        """Which encoder makes these vectors (an index remembers it)."""


@dataclass(frozen=True)
class Hit:
    """A retrieved passage with its fused score and the scores behind it."""

    passage: Passage
    score: float
    dense: float
    bm25: float
    index: int


@dataclass(frozen=True)
class FusionConfig:
    """How the two rankings are combined; tuned on the aclsum dev set (see bench/retrieval.py)."""

    method: Literal["rrf", "score"] = "score"
    rrf_k: int = 60
    bm25_weight: float = 1.0
    dense_weight: float = 0.7
    candidates: int = 100


def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str], stemmer) -> list[list[str]]:
    """BM25 terms: English words without stopwords, stemmed; Chinese words cut by jieba and pairs of
    characters (words of one character, mostly particles, are left out as bm25s leaves out one-letter
    words)."""
    import bm25s

    return bm25s.tokenize([keyword_text(t) for t in texts], stopwords="en", stemmer=stemmer, return_ids=False,
                          show_progress=False)


# Chinese question words, longest first: English ones are BM25 stopwords already. Among a few
# sentences, 什么样 in "设立什么样的机构？" matched another paragraph's question and quote mode quoted it.
_QUESTION_WORDS = re.compile("为什么|什么样|什么|怎么样|怎么|怎样|如何|哪些|哪个|哪里|哪儿|多少|几个|谁")


def keyword_scores(query: str, texts: Sequence[str]) -> np.ndarray:
    """BM25 scores of `query`, its question words left out, over a few `texts` (the sentences quote
    mode chooses from), with the index's terms: a word every text shares, like the name they are all
    about, counts for little."""
    import bm25s

    stemmer = _stemmer()
    terms = tokenize([_QUESTION_WORDS.sub(" ", query)], stemmer)[0]
    if not terms or not texts:
        return np.zeros(len(texts), dtype=np.float32)
    bm25 = bm25s.BM25()
    bm25.index(tokenize(texts, stemmer), show_progress=False)
    return np.asarray(bm25.get_scores(terms), dtype=np.float32)


@dataclass
class DocumentIndex:
    """Passages, their vectors and a BM25 index; held in one user's session.

    Keyword search works as soon as passages are added; their vectors may arrive later, in order
    (`fill`), while questions are already being asked. `embedded` counts the passages, from the
    first, that have their vector.
    """

    fusion: FusionConfig = field(default_factory=FusionConfig)
    encoder: str = ""  # the encoder that made `vectors`; set by the first ingest
    passages: list[Passage] = field(default_factory=list)
    vectors: np.ndarray | None = None
    embedded: int = 0
    cancelled: bool = False
    error: str = ""  # why the vectors stopped coming, if they did
    _tokens: list[list[str]] = field(default_factory=list)
    _bm25: object | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _filled: threading.Condition = field(default_factory=threading.Condition)
    _stem: object = field(default_factory=_stemmer)

    def __len__(self) -> int:
        return len(self.passages)

    def sources(self) -> list[str]:
        return list(dict.fromkeys(p.source for p in self.passages))

    @property
    def ready(self) -> bool:
        """Every passage has its vector: semantic and hybrid search can rank them all."""
        return self.embedded == len(self.passages)

    def add(self, passages: Sequence[Passage], vectors: np.ndarray | None = None) -> int:
        """Append passages (their vectors now, or later through `fill`) and rebuild BM25 over the
        whole corpus once; returns the position of the first one added."""
        import bm25s

        if vectors is not None and len(passages) != len(vectors):
            raise ValueError("one vector per passage")
        tokens = tokenize([p.text for p in passages], self._stem) if passages else []
        with self._lock:
            start = len(self.passages)
            if not passages:
                return start
            self.passages.extend(passages)
            self._tokens.extend(tokens)
            self._bm25 = None
            if any(self._tokens):  # passages of only stopwords or one-letter words have no keywords
                bm25 = bm25s.BM25()
                bm25.index(self._tokens, show_progress=False)
                self._bm25 = bm25
        if vectors is not None:
            self.fill(start, vectors)
        return start

    def fill(self, start: int, vectors: np.ndarray) -> None:
        """Give passages `start…` their vectors; they must be the next ones waiting for theirs."""
        with self._filled:
            self._filled.wait_for(lambda: self.embedded >= start or self.cancelled)
            if self.cancelled:
                return
            if start != self.embedded:
                raise ValueError(f"vectors for passage {start} arrived after those of passage {self.embedded}")
            with self._lock:
                width = vectors.shape[1]
                if self.vectors is None:
                    self.vectors = np.zeros((0, width), dtype=np.float32)
                if len(self.vectors) < start + len(vectors):
                    grown = np.zeros((len(self.passages), width), dtype=np.float32)
                    grown[: len(self.vectors)] = self.vectors
                    self.vectors = grown
                self.vectors[start:start + len(vectors)] = vectors
                self.embedded = start + len(vectors)
            self._filled.notify_all()

    def wait_turn(self, start: int) -> bool:
        """Block until passages before `start` have their vectors; False when they never will."""
        with self._filled:
            self._filled.wait_for(lambda: self.embedded >= start or self.cancelled or bool(self.error))
            return self.embedded >= start and not self.cancelled

    def wait_ready(self, timeout: float | None = None) -> bool:
        with self._filled:
            return self._filled.wait_for(lambda: self.ready or self.cancelled or bool(self.error), timeout) and self.ready

    def failed(self, why: str) -> None:
        with self._filled:
            self.error = why
            self._filled.notify_all()

    def search_status(self, chinese: bool = False) -> str:
        """What search can do now, for the tab: "keyword search ready; semantic search 40%" (or in Chinese)."""
        total = len(self.passages)
        if self.ready:
            if not total:
                return "还没有文档" if chinese else "no documents"
            return "关键词检索和语义检索均已就绪" if chinese else "keyword and semantic search ready"
        if self.error:
            return (f"关键词检索已就绪；语义检索失败（{self.error}）" if chinese
                    else f"keyword search ready; semantic search failed ({self.error})")
        percent = int(100 * self.embedded / total)
        return (f"关键词检索已就绪；语义检索 {percent}%（{self.embedded:,}/{total:,} 个段落）" if chinese else
                f"keyword search ready; semantic search {percent}% ({self.embedded:,} of {total:,} passages)")

    def cancel(self) -> None:
        """Stop embedding for this index (its user removed the documents)."""
        with self._filled:
            self.cancelled = True
            self._filled.notify_all()

    def _bm25_scores(self, query: str) -> np.ndarray:
        query_tokens = tokenize([query], self._stem)[0]
        if not query_tokens or self._bm25 is None:
            return np.zeros(len(self.passages), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(query_tokens), dtype=np.float32)

    def search(self, query: str, query_vector: np.ndarray | None, k: int = 5, mode: Mode = "hybrid") -> list[Hit]:
        """The top `k` passages for the query, best first."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        with self._lock:
            n = len(self.passages)
            if n == 0:
                return []
            dense = np.zeros(n, dtype=np.float32)
            if query_vector is not None and self.vectors is not None:
                dense[: self.embedded] = self.vectors[: self.embedded] @ query_vector.astype(np.float32)
            sparse = self._bm25_scores(query) if mode != "dense" else np.zeros(n, dtype=np.float32)
            if mode == "dense":
                fused = dense
            elif mode == "bm25":
                fused = sparse
            else:
                fused = self._rrf(dense, sparse) if self.fusion.method == "rrf" else self._blend(dense, sparse)
            k = min(k, n)
            top = np.argpartition(-fused, k - 1)[:k]
            top = top[np.argsort(-fused[top], kind="stable")]
            return [Hit(self.passages[i], float(fused[i]), float(dense[i]), float(sparse[i]), int(i)) for i in top]

    def _blend(self, dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        """Weighted sum of BM25 scaled to [0, 1] by the query's best score, and cosine similarity."""
        top = float(sparse.max())
        scaled = sparse / top if top > 0 else sparse
        return self.fusion.bm25_weight * scaled + self.fusion.dense_weight * dense

    def _rrf(self, dense: np.ndarray, sparse: np.ndarray) -> np.ndarray:
        """Weighted reciprocal rank fusion over each ranking's top candidates."""
        f = self.fusion
        fused = np.zeros(len(dense), dtype=np.float64)
        for scores, weight in ((dense, f.dense_weight), (sparse, f.bm25_weight)):
            if weight == 0 or not np.any(scores):
                continue
            m = min(f.candidates, len(scores))
            top = np.argpartition(-scores, m - 1)[:m]
            top = top[np.argsort(-scores[top], kind="stable")]
            fused[top] += weight / (f.rrf_k + np.arange(1, m + 1))
        return fused
