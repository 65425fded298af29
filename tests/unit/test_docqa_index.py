"""Hybrid index: BM25 and dense rankings, their fusion, extension across ingests."""

from __future__ import annotations

import numpy as np

from lmdemo.docqa.index import DocumentIndex, FusionConfig, keyword_scores
from lmdemo.docqa.splitting import Passage


def _passages(texts: list[str], source: str = "doc") -> list[Passage]:
    return [Passage(t, source, None, "", 0, len(t)) for t in texts]


def _onehot(i: int, n: int = 4) -> np.ndarray:
    v = np.zeros(n, dtype=np.float32)
    v[i] = 1.0
    return v


def test_bm25_ranks_keyword_matches_first() -> None:
    index = DocumentIndex()
    texts = ["the cat sat on the mat", "quantum chromodynamics of gluons", "dogs chase cats in parks"]
    index.add(_passages(texts), np.stack([_onehot(i) for i in range(3)]))
    hits = index.search("gluons", None, k=3, mode="bm25")
    assert hits[0].passage.text == texts[1] and hits[0].bm25 > 0
    assert hits[-1].bm25 == 0


def test_dense_ranks_by_cosine() -> None:
    index = DocumentIndex()
    index.add(_passages(["a", "b", "c"]), np.stack([_onehot(0), _onehot(1), _onehot(2)]))
    hits = index.search("zzz", _onehot(2), k=2, mode="dense")
    assert hits[0].passage.text == "c" and hits[0].dense == 1.0
    assert index.search("a b c", None, k=1, mode="bm25")[0].bm25 == 0.0


def test_hybrid_fuses_ranks_with_weights() -> None:
    texts = ["alpha keyword", "beta", "gamma"]
    vectors = np.stack([_onehot(1), _onehot(2), _onehot(0)])
    query_vector = _onehot(0)  # dense prefers "gamma"; BM25 prefers "alpha keyword"
    for weight, winner in ((3.0, "alpha keyword"), (0.2, "gamma")):
        index = DocumentIndex(fusion=FusionConfig(method="rrf", rrf_k=1, bm25_weight=weight))
        index.add(_passages(texts), vectors)
        assert index.search("keyword", query_vector, k=1, mode="hybrid")[0].passage.text == winner


def test_score_blend_adds_scaled_bm25_to_cosine() -> None:
    texts = ["alpha keyword keyword", "alpha keyword", "gamma"]
    vectors = np.stack([_onehot(1), _onehot(0) * 0.6 + _onehot(1) * 0.8, _onehot(0)])
    index = DocumentIndex(fusion=FusionConfig(method="score", bm25_weight=1.0, dense_weight=0.7))
    index.add(_passages(texts), vectors)
    hits = index.search("keyword", _onehot(0), k=3, mode="hybrid")
    best_bm25 = max(h.bm25 for h in hits)
    for h in hits:
        assert abs(h.score - (h.bm25 / best_bm25 + 0.7 * h.dense)) < 1e-5
    assert hits[0].passage.text == "alpha keyword"


def test_adding_more_documents_extends_both_indexes() -> None:
    index = DocumentIndex()
    index.add(_passages(["first document about rivers"], "one"), _onehot(0)[None])
    index.add(_passages(["second document about mountains"], "two"), _onehot(1)[None])
    assert len(index) == 2 and index.sources() == ["one", "two"]
    assert index.search("mountains", None, k=1, mode="bm25")[0].passage.source == "two"
    assert index.search("x", _onehot(1), k=1, mode="dense")[0].passage.source == "two"


def test_empty_index_returns_nothing() -> None:
    assert DocumentIndex().search("anything", _onehot(0), k=3) == []


ZH = ["国务院总理在北京会见了来访的外国代表团，双方讨论了经济合作。",
      "今年全国粮食产量再创新高，农民收入明显增加。",
      "运动会在上海举行，来自全国的体育健儿参加了比赛。"]


def test_chinese_keywords_typed_together_find_their_paragraph() -> None:
    """Chinese has no spaces: a query of content words written together must still match word by word."""
    index = DocumentIndex()
    index.add(_passages(ZH), np.stack([_onehot(i) for i in range(3)]))
    for query, expected in [("粮食产量农民", 1), ("运动会体育上海", 2), ("总理会见代表团", 0)]:
        hits = index.search(query, None, k=3, mode="bm25")
        assert hits[0].passage.text == ZH[expected] and hits[0].bm25 > 0, query
    mixed = index.search("GDP 粮食产量 growth", None, k=1, mode="bm25")
    assert mixed[0].passage.text == ZH[1], "Chinese and English in one query"


def test_keyword_scores_leave_out_question_words_and_weigh_down_shared_words() -> None:
    sentences = ["他们在这里遇到了什么样的困难？", "代表们建议成立地区性的反腐败机构。", "代表们在会上发了言。"]
    scores = keyword_scores("代表们提议设立什么样的机构？", sentences)
    assert scores.argmax() == 1 and scores[0] == 0.0
    assert keyword_scores("什么？", sentences).tolist() == [0.0, 0.0, 0.0]
    english = keyword_scores("Which ship brings the supplies?", ["The station is on the ice.",
                                                                 "A ship brings the supplies in March."])
    assert english[1] > english[0] == 0.0
