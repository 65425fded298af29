"""Document QA answers on the ACLSum dev questions, through the app's own ingestion and answering.

    python bench/qa.py [--every 1] [--generate-every 5]

The corpus is the 150 dev papers (../shared/eval/retrieval/aclsum-dev/corpus.jsonl); the questions
(../shared/eval/qa/aclsum-dev-questions.jsonl) ask for each paper's problem, approach and results.
Per answer mode, and for the baseline (the first two sentences of the top retrieved passage):
ROUGE-L F1 against the human reference (citation markers removed), share whose first citation is
the asked paper, share with an evidence sentence in a cited passage, share repeating a sentence
or a five-word sequence three times, share restating an earlier sentence (half of a sentence's
word pairs said before it), share echoing the prompt, seconds per question. Generating
modes are slow on a CPU: `--generate-every N` runs them on every N-th question (all modes
are then also reported on that same subset, so the rows compare like with like).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections import Counter
from pathlib import Path

from common import ROOT, write

DATA = ROOT.parent / "shared" / "eval"
CITATION = re.compile(r"\s*\[\d{1,3}\]")
ECHO = re.compile(r"Question:|Context:|Passages:")
WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def repeats(answer: str) -> bool:
    """A sentence said twice, or a five-word sequence three times."""
    sentences = [tuple(words(s)) for s in re.split(r"(?<=[.!?])\s+", CITATION.sub("", answer))]
    sentences = [s for s in sentences if len(s) >= 3]
    if len(sentences) != len(set(sentences)):
        return True
    tokens = words(CITATION.sub("", answer))
    grams = Counter(tuple(tokens[i:i + 5]) for i in range(len(tokens) - 4))
    return any(count >= 3 for count in grams.values())


def restates(answer: str) -> bool:
    """A sentence of 5+ words half of whose word pairs were said before it in the answer."""
    said: set[tuple[str, ...]] = set()
    for sentence in re.split(r"(?<=[.!?])\s+", CITATION.sub("", answer)):
        tokens = words(sentence)
        pairs = {tuple(tokens[i:i + 2]) for i in range(len(tokens) - 1)}
        if len(tokens) >= 5 and len(pairs & said) >= len(pairs) / 2:
            return True
        said |= pairs
    return False


def evidence_cited(citations: list[dict], evidence: list[str], doc_id: str) -> bool:
    wanted = [{w for w in words(e) if len(w) > 2} for e in evidence]
    for citation in citations:
        if citation["doc_id"] != doc_id:
            continue
        have = {w for w in words(citation["text"]) if len(w) > 2}
        if any(ev and len(ev & have) / len(ev) >= 0.6 for ev in wanted):
            return True
    return False


def lead_two(text: str) -> str:
    from lmdemo.docqa.answer import passage_sentences

    sentences = [s for _, s in passage_sentences(text)] or [text]
    return " ".join(sentences[:2])


def score(name: str, questions: list[dict], answers: list[dict], seconds: float) -> dict:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)
    n = len(questions)
    rouge = first = evidence = loops = restated = echo = 0.0
    for question, answer in zip(questions, answers):
        text = CITATION.sub("", answer["answer"])
        rouge += scorer.score(question["reference"], text)["rougeL"].fmeasure
        cites = answer["citations"]
        first += bool(cites) and cites[0]["doc_id"] == question["doc_id"]
        evidence += evidence_cited(cites, question["evidence"], question["doc_id"])
        loops += repeats(answer["answer"])
        restated += restates(answer["answer"])
        echo += bool(ECHO.search(answer["answer"]))
    return {"method": name, "questions": n, "ROUGE-L": round(rouge / n, 4), "asked paper cited first": round(first / n, 3),
            "evidence cited": round(evidence / n, 3), "repeats": round(loops / n, 3),
            "restates": round(restated / n, 3), "echoes": round(echo / n, 3),
            "s/question": round(seconds / n, 3)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--corpus", type=Path, default=DATA / "retrieval" / "aclsum-dev" / "corpus.jsonl")
    parser.add_argument("--questions", type=Path, default=DATA / "qa" / "aclsum-dev-questions.jsonl")
    parser.add_argument("--generate-every", type=int, default=5, help="generating modes on every N-th question")
    parser.add_argument("--modes", default="quote,generate,auto")
    args = parser.parse_args()

    from lmdemo.docqa.answer import HOW
    from lmdemo.docqa.loaders import document_from_text
    from lmdemo.models.types import SamplingParams
    from lmdemo.services import build_services
    from lmdemo.settings import load_settings

    services = build_services(load_settings([]))
    docqa = services.docqa
    corpus = [json.loads(line) for line in args.corpus.open()]
    questions = [json.loads(line) for line in args.questions.open()]
    index = docqa.new_index()
    started = time.perf_counter()
    docqa.ingest_documents(index, [document_from_text(row["doc_id"], row["text"]) for row in corpus])
    ingest = time.perf_counter() - started
    params = SamplingParams(temperature=0.0, max_new_tokens=160, repetition_penalty=1.0)
    subset = questions[:: args.generate_every]

    def run(mode: str, chosen: list[dict]) -> tuple[list[dict], float]:
        answers = []
        began = time.perf_counter()
        for question in chosen:
            if mode == "baseline":
                top = docqa.retrieve(index, question["question"])[0]
                answers.append({"answer": lead_two(top.passage.text), "citations": [
                    {"doc_id": top.passage.source, "text": top.passage.text}]})
                continue
            final = None
            for final in docqa.ask(index, question["question"], params, answer_mode=mode):
                pass
            answers.append({"answer": final.text, "how": final.how,
                            "citations": [{"doc_id": s.source, "text": s.text} for s in final.sources]})
        return answers, time.perf_counter() - began

    rows = []
    modes = ["baseline", *args.modes.split(",")]
    for mode in modes:
        if mode in ("baseline", "quote"):
            answers, seconds = run(mode, questions)
            rows.append(score(f"{mode} (all)", questions, answers, seconds))
            rows.append(score(f"{mode} (subset)", subset, answers[:: args.generate_every],
                              seconds * len(subset) / len(questions)))
        else:
            answers, seconds = run(mode, subset)
            rows.append(score(f"{mode} (subset)", subset, answers, seconds))
            if mode == "auto":
                fallbacks = sum(HOW["quoted_instead"][0] in a["how"] for a in answers)
                rows[-1]["quoted instead"] = round(fallbacks / len(answers), 3)
        print(rows[-1], flush=True)
    write("qa", rows, {"ingest_seconds": round(ingest, 1), "passages": len(index),
                       "subset": f"every {args.generate_every}th question ({len(subset)})"})


if __name__ == "__main__":
    main()
