"""`python -m lmdemo retrieve` and `ask` on a small corpus in the eval format."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

CORPUS = [
    {"doc_id": "lake", "title": "Lake", "text": "# Lake Ombra\n\nZorblat Station measures the lake temperature hourly."},
    {"doc_id": "tea", "title": "Tea", "text": "# Green tea\n\nGreen tea is brewed at 80 degrees to avoid bitterness."},
    {"doc_id": "ship", "title": "Ships", "text": "# Harbour\n\nThe harbour of Velmora handled 42 ships in March."},
]
QUERIES = [
    {"query_id": "q1", "query": "How hot should the water be for green tea?", "doc_id": "tea"},
    {"query_id": "q2", "query": "How many ships came to Velmora?", "doc_id": "ship"},
]


def test_retrieve_writes_ranked_results(tmp_path: Path) -> None:
    corpus, queries, out = tmp_path / "corpus.jsonl", tmp_path / "queries.jsonl", tmp_path / "out" / "results.jsonl"
    corpus.write_text("\n".join(json.dumps(row) for row in CORPUS))
    queries.write_text("\n".join(json.dumps(row) for row in QUERIES))
    for mode in ("hybrid", "dense", "bm25"):
        subprocess.run(
            [sys.executable, "-m", "lmdemo", "retrieve", "--corpus", str(corpus), "--queries", str(queries),
             "--top-k", "2", "--mode", mode, "--out", str(out)],
            cwd=ROOT, check=True, capture_output=True, env={**os.environ, "LMDEMO_PROFILE": "offline"},
        )
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert [line["query_id"] for line in lines] == ["q1", "q2"]
        for line, query in zip(lines, QUERIES):
            results = line["results"]
            assert len(results) == 2
            assert results[0]["doc_id"] == query["doc_id"], (mode, line)
            assert results[0]["score"] >= results[1]["score"]
            assert set(results[0]) == {"doc_id", "text", "score", "start"}
            source = next(row["text"] for row in CORPUS if row["doc_id"] == results[0]["doc_id"])
            assert source[results[0]["start"] :].startswith(results[0]["text"])


ASK_CORPUS = [
    {"doc_id": "tea", "text": "# Green tea\n\nGreen tea is brewed with water at 80 degrees to avoid bitterness. "
                              "It is grown mostly in China and Japan, on steep and misty hillsides."},
    {"doc_id": "ship", "text": "# Harbour\n\nThe harbour of Velmora handled 42 ships in March of last year. "
                               "Most of them carried grain and timber from the northern provinces."},
]
ASK_QUESTIONS = [
    {"question_id": "q1", "question": "At what temperature is green tea brewed?"},
    {"question_id": "q2", "question": "How many ships did the harbour of Velmora handle in March?"},
]


def test_ask_answers_with_citations_in_the_order_cited(tmp_path: Path) -> None:
    corpus, questions, out = tmp_path / "corpus.jsonl", tmp_path / "questions.jsonl", tmp_path / "answers.jsonl"
    corpus.write_text("\n".join(json.dumps(row) for row in ASK_CORPUS))
    questions.write_text("\n".join(json.dumps(row) for row in ASK_QUESTIONS))
    for mode, expected in (("quote", ["80 degrees", "42 ships"]), ("auto", ["80", "42"])):
        subprocess.run(
            [sys.executable, "-m", "lmdemo", "ask", "--corpus", str(corpus), "--questions", str(questions),
             "--out", str(out), "--mode", mode],
            cwd=ROOT, check=True, capture_output=True, env={**os.environ, "LMDEMO_PROFILE": "offline"},
        )
        lines = [json.loads(line) for line in out.read_text().splitlines()]
        assert [line["question_id"] for line in lines] == ["q1", "q2"]
        for line, wanted, doc_id in zip(lines, expected, ("tea", "ship")):
            assert wanted in line["answer"], (mode, line)
            assert line["citations"] and line["citations"][0]["doc_id"] == doc_id, (mode, line)
            assert set(line["citations"][0]) == {"doc_id", "text", "start"}
            source = next(row["text"] for row in ASK_CORPUS if row["doc_id"] == doc_id)
            assert source[line["citations"][0]["start"]:].startswith(line["citations"][0]["text"])
