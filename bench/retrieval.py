"""Retrieval quality and speed on ../shared/eval/retrieval/aclsum-dev, through the app's own code.

    python bench/retrieval.py [--data ../shared/eval/retrieval/aclsum-dev]

Reports, per mode (bm25, dense, hybrid): doc-level recall@1/5/10 and MRR@10 over distinct
papers, passage-level recall@1/5 and MRR@10 (a passage of the right paper holding at least
60% of the words longer than 2 letters of one evidence sentence), ingestion time, chunks/s,
and per-query latency p50/p95 (embedding the query included).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import statistics
import time
from pathlib import Path

from common import ROOT, write

WORD = re.compile(r"\w+")


def words(text: str) -> set[str]:
    return {w for w in WORD.findall(text.lower()) if len(w) > 2}


def passage_hit(passage: str, evidence: list[set[str]]) -> bool:
    have = words(passage)
    return any(ev and len(ev & have) / len(ev) >= 0.6 for ev in evidence)


def score(queries: list[dict], results: list[list]) -> dict[str, float]:
    doc_r = {1: 0, 5: 0, 10: 0}
    doc_mrr = 0.0
    pas_r = {1: 0, 5: 0, 10: 0}
    pas_mrr = 0.0
    for query, hits in zip(queries, results):
        papers = list(dict.fromkeys(h.passage.source for h in hits))
        if query["doc_id"] in papers[:10]:
            rank = papers.index(query["doc_id"]) + 1
            doc_mrr += 1 / rank
            for k in doc_r:
                doc_r[k] += rank <= k
        evidence = [words(e) for e in query.get("evidence", [])]
        for rank, hit in enumerate(hits[:10], start=1):
            if hit.passage.source == query["doc_id"] and passage_hit(hit.passage.text, evidence):
                pas_mrr += 1 / rank
                for k in pas_r:
                    pas_r[k] += rank <= k
                break
    n = len(queries)
    return {
        "doc_R@1": doc_r[1] / n,
        "doc_R@5": doc_r[5] / n,
        "doc_R@10": doc_r[10] / n,
        "doc_MRR@10": doc_mrr / n,
        "passage_R@1": pas_r[1] / n,
        "passage_R@5": pas_r[5] / n,
        "passage_MRR@10": pas_mrr / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "eval" / "retrieval" / "aclsum-dev")
    parser.add_argument("--tune", action="store_true", help="also try fusion settings and report each")
    args = parser.parse_args()

    from lmdemo.docqa.index import FusionConfig
    from lmdemo.docqa.loaders import document_from_text
    from lmdemo.logs import configure_logging
    from lmdemo.services import build_services
    from lmdemo.settings import load_settings

    configure_logging()
    corpus = [json.loads(line) for line in (args.data / "corpus.jsonl").open()]
    queries = [json.loads(line) for line in (args.data / "queries.jsonl").open()]
    services = build_services(load_settings([], env={**os.environ, "LMDEMO_PROFILE": "offline"}))
    docqa = services.docqa
    services.models.encoder()
    docqa.splitter()

    index = docqa.new_index()
    started = time.perf_counter()
    documents = [document_from_text(str(row["doc_id"]), row["text"]) for row in corpus]
    docqa.ingest_documents(index, documents)
    ingest_s = time.perf_counter() - started

    texts = [q["query"] for q in queries]
    gc.collect()
    latencies = []
    for query in texts[:200]:
        started = time.perf_counter()
        docqa.retrieve(index, query, 10, "hybrid")
        latencies.append((time.perf_counter() - started) * 1000)
    latencies.sort()

    rows = []
    configs = [("", index.fusion)]
    if args.tune:
        configs += [
            (f"rrf k={k} bm25_w={w}", FusionConfig(method="rrf", rrf_k=k, bm25_weight=w))
            for k in (10, 60)
            for w in (1.0, 2.0, 3.0)
        ]
        configs += [
            (f"blend dense_w={w}", FusionConfig(method="score", dense_weight=w)) for w in (0.3, 0.5, 1.0, 1.5)
        ]
    for mode in ("bm25", "dense", "hybrid"):
        for label, fusion in configs if mode == "hybrid" else configs[:1]:
            index.fusion = fusion
            results = docqa.retrieve_many(index, texts, 50, mode)
            rows.append({"mode": mode if not label else f"hybrid {label}", **score(queries, results)})
    index.fusion = configs[0][1]

    extra = {
        "documents": len(corpus),
        "passages": len(index),
        "chunk_tokens": docqa.config.chunk_tokens,
        "overlap_tokens": docqa.config.overlap_tokens,
        "fusion": vars(configs[0][1]),
        "ingest_s": round(ingest_s, 2),
        "chunks_per_s": round(len(index) / ingest_s, 1),
        "hybrid_latency_ms_p50": round(statistics.median(latencies), 2),
        "hybrid_latency_ms_p95": round(latencies[int(0.95 * len(latencies)) - 1], 2),
    }
    write(f"retrieval_{args.data.name}", rows, extra)
    print(json.dumps(extra, indent=2))


if __name__ == "__main__":
    main()
