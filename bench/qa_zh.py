"""Document QA in Chinese on the People's Daily paragraphs, through the app's own ingestion and answering.

    python bench/qa_zh.py [--modes quote,auto]

The corpus is zh-news (../shared/eval/retrieval/zh-news/corpus.jsonl, 3,000 paragraphs); the
questions (bench/data/zh-news-questions.jsonl, written for this benchmark) each ask for what one
sentence of one paragraph states (`sentence`: its index, or the indices of the sentences that each
answer it), mostly in other words than the sentence's. Per answer mode, and for the baseline (the
first sentence of the top retrieved passage): the share whose answer is such a sentence (it holds
the sentence, citation markers and spaces removed), the share citing the asked paragraph first, and
seconds per question.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from pathlib import Path

from common import ROOT, write
from qa import CITATION, DATA

SENTENCE_END = re.compile(r"(?<=[。！？])")


def sentences(text: str) -> list[str]:
    return [s for s in SENTENCE_END.split(text) if s.strip()]


def bare(text: str) -> str:
    return "".join(CITATION.sub("", text).split())


def score(name: str, questions: list[dict], answers: list[dict], corpus: dict[str, str], seconds: float) -> dict:
    right = sum(any(bare(sentences(corpus[q["doc_id"]])[i]) in bare(a["answer"]) for i in q["sentence"])
                for q, a in zip(questions, answers))
    first = sum(bool(a["cited"]) and a["cited"][0] == q["doc_id"] for q, a in zip(questions, answers))
    n = len(questions)
    return {"mode": name, "questions": n, "the asked sentence": round(right / n, 3),
            "asked paragraph cited first": round(first / n, 3), "s/question": round(seconds / n, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=DATA / "retrieval" / "zh-news" / "corpus.jsonl")
    parser.add_argument("--questions", type=Path, default=ROOT / "bench" / "data" / "zh-news-questions.jsonl")
    parser.add_argument("--modes", default="quote,auto")
    args = parser.parse_args()

    from lmdemo.docqa.loaders import document_from_text
    from lmdemo.models.types import SamplingParams
    from lmdemo.services import build_services
    from lmdemo.settings import load_settings

    services = build_services(load_settings([]))
    docqa = services.docqa
    corpus = {row["doc_id"]: row["text"] for row in map(json.loads, args.corpus.open())}
    questions = [json.loads(line) for line in args.questions.open()]
    index = docqa.new_index()
    started = time.perf_counter()
    docqa.ingest_documents(index, [document_from_text(doc_id, text) for doc_id, text in corpus.items()])
    ingest = time.perf_counter() - started
    params = SamplingParams(temperature=0.0, max_new_tokens=160, repetition_penalty=1.0)

    rows = []
    for mode in ["baseline", *args.modes.split(",")]:
        answers = []
        began = time.perf_counter()
        for question in questions:
            if mode == "baseline":
                top = docqa.retrieve(index, question["question"])[0]
                answers.append({"answer": sentences(top.passage.text)[0], "cited": [top.passage.source]})
                continue
            final = None
            for final in docqa.ask(index, question["question"], params, answer_mode=mode):
                pass
            answers.append({"answer": final.text, "cited": [s.source for s in final.sources]})
        rows.append(score(mode, questions, answers, corpus, time.perf_counter() - began))
        print(rows[-1], flush=True)
    write("qa_zh", rows, {"ingest_seconds": round(ingest, 1), "passages": len(index)})


if __name__ == "__main__":
    main()
