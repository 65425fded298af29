"""Command lines over the same services as the app: `python -m lmdemo retrieve | ask | classify | summarize | check-space`."""

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


def ask(args: argparse.Namespace) -> None:
    """Index a JSONL corpus like the Document QA tab does, then answer a JSONL file of questions with citations."""
    from lmdemo.docqa.loaders import document_from_text
    from lmdemo.models.types import SamplingParams
    from lmdemo.services import build_services
    from lmdemo.settings import load_settings

    services = build_services(load_settings([]))
    docqa = services.docqa
    index = docqa.new_index()
    started = time.perf_counter()
    docqa.ingest_documents(index, [document_from_text(str(row["doc_id"]), row["text"])
                                   for row in _read_jsonl(args.corpus)])
    ingest_seconds = time.perf_counter() - started
    params = SamplingParams(temperature=0.0, max_new_tokens=args.max_new_tokens, repetition_penalty=1.0)
    questions = _read_jsonl(args.questions)
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for question in questions:
            final = None
            for final in docqa.ask(index, question["question"], params, args.top_k, answer_mode=args.mode):
                pass
            citations = [{"doc_id": s.source, "text": s.text, "start": s.start} for s in final.sources]
            out.write(json.dumps({"question_id": question["question_id"], "answer": final.text,
                                  "citations": citations, "how": final.how}, ensure_ascii=False) + "\n")
            out.flush()
    print(f"indexed in {ingest_seconds:.1f} s; {len(questions)} questions in {time.perf_counter() - started:.1f} s "
          f"→ {args.out}", file=sys.stderr)


def classify(args: argparse.Namespace) -> None:
    """Classify a test CSV zero-shot, few-shot, after fine-tuning or with the n-gram baseline; write it
    back with predictions."""
    import csv

    from lmdemo.services import build_services
    from lmdemo.settings import load_settings
    from lmdemo.tasks.classify import evaluate, parse_labels
    from lmdemo.tasks.dataset import read_csv
    from lmdemo.tasks.service import sample_shots

    classify_service = build_services(load_settings([])).classify
    test = read_csv(args.test, require_labels=False)
    started = time.perf_counter()
    if args.mode == "zero-shot":
        labels = parse_labels(args.labels or sorted({lab for lab in test.labels if lab}))
        predictions = classify_service.zero_shot(test.texts, labels)
    else:
        if args.train is None:
            raise SystemExit(f"--mode {args.mode} needs --train TRAIN.csv")
        train = read_csv(args.train)
        if args.mode == "few-shot":
            head = classify_service.train_few_shot(sample_shots(train, args.shots), aspect=args.aspect)
            predictions = classify_service.few_shot(head, test.texts)
        elif args.mode == "ngram":
            predictions = classify_service.train_ngram(train).predict(test.texts)
        else:
            model = classify_service.fine_tune(
                train, progress=lambda fraction, message: print(f"\r{message}", end="", file=sys.stderr)
            )
            print(file=sys.stderr)
            predictions = model.predict(test.texts)
    seconds = time.perf_counter() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label", "prediction"])
        for text, label, prediction in zip(test.texts, test.labels, predictions):
            writer.writerow([text, label, prediction.label])
    print(f"{len(predictions)} predictions in {seconds:.1f} s → {args.out}", file=sys.stderr)
    if all(test.labels):
        metrics = evaluate(test.labels, [p.label for p in predictions], sorted(set(test.labels)))
        print(f"accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}")


def summarize(args: argparse.Namespace) -> None:
    """Summarise each `{"doc_id", "source"}` line of a JSONL file."""
    from lmdemo.services import build_services
    from lmdemo.settings import load_settings

    service = build_services(load_settings([])).summarize
    rows = _read_jsonl(args.input)
    started = time.perf_counter()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", encoding="utf-8") as out:
        for row in rows:
            summary = service.summary(row["source"], args.mode, args.sentences)
            out.write(json.dumps({"doc_id": row["doc_id"], "summary": summary}) + "\n")
    seconds = time.perf_counter() - started
    print(f"{len(rows)} summaries in {seconds:.1f} s ({seconds / max(len(rows), 1):.2f} s each) → {args.out}",
          file=sys.stderr)


def check_space(args: argparse.Namespace) -> None:
    """Validate the repository as a Hugging Face Space; exit status 1 when something is wrong."""
    from lmdemo.hosting.spaces_check import main as check

    raise SystemExit(check(args.root))


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
    a = commands.add_parser("ask", help="answer JSONL questions over a JSONL corpus, with citations")
    a.add_argument("--corpus", type=Path, required=True, help='JSONL lines {"doc_id", "text"}')
    a.add_argument("--questions", type=Path, required=True, help='JSONL lines {"question_id", "question"}')
    a.add_argument("--out", type=Path, required=True, help='JSONL lines {"question_id", "answer", "citations"}')
    a.add_argument("--mode", choices=["auto", "generate", "quote"], default="auto")
    a.add_argument("--top-k", type=int, default=None, help="passages given to the model (default: the app's)")
    a.add_argument("--max-new-tokens", type=int, default=160)
    a.set_defaults(run=ask)

    c = commands.add_parser("classify", help="classify the rows of a CSV (text[,label])")
    c.add_argument("--test", type=Path, required=True, help="CSV with a `text` column (and `label` to score)")
    c.add_argument("--mode", choices=["zero-shot", "few-shot", "finetune", "ngram"], default="zero-shot",
                   help="ngram: the TF-IDF + logistic regression baseline, trained on --train in seconds")
    c.add_argument("--train", type=Path, help="CSV with `text,label` for few-shot and finetune")
    c.add_argument("--labels", help="comma-separated labels for zero-shot (default: the test file's)")
    c.add_argument("--shots", type=int, default=16, help="examples per label for few-shot")
    c.add_argument("--aspect", default="", help='what the labels describe, e.g. "sentiment": few-shot then also '
                                                "reads each text with the chat model")
    c.add_argument("--out", type=Path, required=True)
    c.set_defaults(run=classify)
    m = commands.add_parser("summarize", help='summarise JSONL lines {"doc_id", "source"}')
    m.add_argument("--input", type=Path, required=True)
    m.add_argument("--out", type=Path, required=True)
    m.add_argument("--mode", choices=["extractive", "abstractive"], default="extractive")
    m.add_argument("--sentences", type=int, default=3)
    m.set_defaults(run=summarize)
    s = commands.add_parser("check-space", help="validate README front matter and requirements.txt for a Space")
    s.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1], help="repository root")
    s.set_defaults(run=check_space)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    configure_logging()
    args = build_parser().parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
