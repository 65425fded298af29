"""Batch command lines over the same services as the app: `python -m lmdemo retrieve ...`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lmdemo.logs import configure_logging


def _read_jsonl(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def retrieve(args: argparse.Namespace) -> None:
    """Index a JSONL corpus like the Document QA tab does, then answer a JSONL file of queries."""
    from lmdemo.docqa.loaders import document_from_text
    from lmdemo.services import build_services
    from lmdemo.settings import load_settings

    services = build_services(load_settings([]))
    docqa = services.docqa
    corpus = _read_jsonl(args.corpus)
    queries = _read_jsonl(args.queries)
    index = docqa.new_index()
    started = time.perf_counter()
    documents = [document_from_text(str(row["doc_id"]), row["text"]) for row in corpus]
    docqa.ingest_documents(index, documents)
    ingest_seconds = time.perf_counter() - started
    started = time.perf_counter()
    results = docqa.retrieve_many(index, [q["query"] for q in queries], args.top_k, args.mode)
    query_seconds = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for query, hits in zip(queries, results):
            rows = [
                {"doc_id": h.passage.source, "text": h.passage.text, "score": h.score, "start": h.passage.start}
                for h in hits
            ]
            out.write(json.dumps({"query_id": query["query_id"], "results": rows}) + "\n")
    print(
        f"indexed {len(corpus)} documents into {len(index)} passages in {ingest_seconds:.1f} s; "
        f"{len(queries)} queries in {query_seconds:.2f} s → {args.out}",
        file=sys.stderr,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lmdemo", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    r = commands.add_parser("retrieve", help="retrieve passages for queries from a JSONL corpus")
    r.add_argument("--corpus", type=Path, required=True, help='JSONL lines {"doc_id", "title", "text"}')
    r.add_argument("--queries", type=Path, required=True, help='JSONL lines {"query_id", "query", ...}')
    r.add_argument("--top-k", type=int, default=10)
    r.add_argument("--mode", choices=["hybrid", "dense", "bm25"], default="hybrid")
    r.add_argument("--out", type=Path, required=True)
    r.set_defaults(run=retrieve)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    configure_logging()
    args = build_parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
