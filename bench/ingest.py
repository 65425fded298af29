"""Ask at once: upload to first answer for the 150 ACLSum dev papers, and embedding throughput per precision.

    python bench/ingest.py [--sample 1500]

1. The papers are written out as Markdown files and go through the tab's own path
   (`DocQAService.ingest(..., wait=False)`, then `ask` in the default answer mode): seconds until
   keyword search is ready, until the first answer is complete (and which search answered it), and
   until every passage has its vector.
2. Embedding throughput, fp32 against bf16 weights of the same encoder, on the same passages in the
   same run (the first `--sample` passages; the encoder's batch size as the app uses it), with the
   cosine of each bf16 vector to its fp32 one. `--encoder-dtype auto` picks bf16 only where the CPU
   has native bf16 (`lmdemo.runtime.cpu_has_bf16`): both are measured here to show why.
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path

from common import ROOT, write

DATA = ROOT.parent / "shared" / "eval"


def upload_to_first_answer(services, corpus: list[dict], question: str) -> dict:
    from lmdemo.models.types import SamplingParams

    docqa = services.docqa
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for row in corpus:
            path = Path(folder) / f"{row['doc_id']}.md"
            path.write_text(row["text"], encoding="utf-8")
            files.append((path, path.name))
        index = docqa.new_index()
        started = time.perf_counter()
        report = docqa.ingest(index, files, wait=False)
        keyword_ready = time.perf_counter() - started
        *_, final = docqa.ask(index, question, SamplingParams(temperature=0.0, max_new_tokens=200),
                              answer_mode=docqa.config.answer_mode)
        first_answer = time.perf_counter() - started
        status_then = index.search_status()
        index.wait_ready()
        all_vectors = time.perf_counter() - started
    return {"papers": len(corpus), "passages": report.total_passages, "keyword search ready s": round(keyword_ready, 2),
            "first answer s": round(first_answer, 2), "search when answered": status_then, "answer how": final.how,
            "all vectors s": round(all_vectors, 1), "passages/s (background)": round(report.total_passages / all_vectors, 1)}


def throughput(encoder, texts: list[str]) -> list[dict]:
    import numpy as np
    import torch

    from lmdemo.runtime import cpu_has_bf16

    fp32 = copy.deepcopy(encoder).float()
    half = copy.deepcopy(encoder).to(torch.bfloat16)
    rows, vectors = [], {}
    for name, model in (("float32", fp32), ("bfloat16", half)):
        model.encode(texts[:64], batch_size=32)
        began = time.perf_counter()
        vectors[name] = np.asarray(model.encode(texts, batch_size=32, normalize_embeddings=True), dtype=np.float32)
        seconds = time.perf_counter() - began
        rows.append({"encoder weights": name, "passages": len(texts), "seconds": round(seconds, 1),
                     "passages/s": round(len(texts) / seconds, 1)})
    ref, got = vectors["float32"], vectors["bfloat16"]
    cosine = (ref * got).sum(axis=1) / np.linalg.norm(got, axis=1)
    rows[1]["speed-up"] = round(rows[0]["seconds"] / rows[1]["seconds"], 2)
    rows[1]["cosine to fp32 min"] = round(float(cosine.min()), 5)
    rows[1]["cosine mean"] = round(float(cosine.mean()), 6)
    rows[1]["native bf16 CPU"] = cpu_has_bf16()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DATA / "retrieval" / "aclsum-dev" / "corpus.jsonl")
    parser.add_argument("--questions", type=Path, default=DATA / "qa" / "aclsum-dev-questions.jsonl")
    parser.add_argument("--sample", type=int, default=1500, help="passages for the fp32/bf16 comparison")
    args = parser.parse_args()

    from lmdemo.docqa.loaders import document_from_text
    from lmdemo.services import build_services
    from lmdemo.settings import load_settings

    services = build_services(load_settings([]))
    services.preload().join()  # as the app does at start-up: the clock starts at the upload
    encoder = services.models.encoder()
    corpus = [json.loads(line) for line in args.corpus.open()]
    question = json.loads(args.questions.open().readline())["question"]
    first = upload_to_first_answer(services, corpus, question)
    first["encoder dtype"] = encoder.report.dtype
    splitter = services.docqa.splitter()
    texts = [p.text for row in corpus for p in splitter.split(document_from_text(row["doc_id"], row["text"]))]
    rows = throughput(encoder.model, texts[: args.sample])
    write("ingest_first_answer", [first])
    write("embedding_precision", rows)


if __name__ == "__main__":
    main()
