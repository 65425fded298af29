"""Ask at once: upload to first answer for the 150 ACLSum dev papers, and embedding throughput per precision.

    python bench/ingest.py [--sample 1500]

1. The papers are written out as Markdown files and go through the tab's own path
   (`DocQAService.ingest(..., wait=False)`, then `ask` in the default answer mode): seconds until
   keyword search is ready, until the first answer is complete (and which search answered it), and
   until every passage has its vector; then, in the same run, the same with the settings before
   this issue's speed-ups (`--compare`: the q8_0 cache, then also the GGUF as packaged), whose
   prompts read slower. Each setting uploads `--rounds` times, the settings taking turns, and the
   table gives the median with the lowest and highest (a 2-core VM's speed drifts between minutes).
2. Embedding throughput, fp32 against bf16 weights of the same encoder, on the same passages in the
   same run (the first `--sample` passages; the encoder's batch size as the app uses it), with the
   cosine of each bf16 vector to its fp32 one. `--encoder-dtype auto` picks bf16 only where the CPU
   has native bf16 (`lmdemo.runtime.cpu_has_bf16`): both are measured here to show why.
3. The int8 ceiling on this CPU: the share of the fp32 encoder's time spent in its linear layers
   (torch's profiler over the same passages), and fp32 against int8 (fbgemm's dynamic quantized
   Linear) on the encoder's own layer shapes and batch sizes. An int8 encoder can be at most
   1 / ((1 - share) + share / ratio) times faster: where that bound is under 2x, no int8 path (torch,
   ONNX Runtime) can double the fp32 throughput on this CPU, whatever its accuracy.

`--skip-upload` runs 2 and 3 only (on a CPU without bf16 the upload part alone takes over ten minutes).
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from common import ROOT, write

DATA = ROOT.parent / "shared" / "eval"


def upload_to_first_answer(services, corpus: list[dict], question: str, all_vectors: bool = True) -> dict:
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
        row = {"papers": len(corpus), "passages": report.total_passages, "keyword search ready s": round(keyword_ready, 2),
               "first answer s": round(first_answer, 2), "search when answered": status_then, "answer how": final.how}
        if not all_vectors:
            index.cancel()
            return row
        index.wait_ready()
        seconds = time.perf_counter() - started
    return row | {"all vectors s": round(seconds, 1), "passages/s (background)": round(report.total_passages / seconds, 1)}


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


def _best_seconds(run, repeats: int = 5) -> float:
    run()
    best = float("inf")
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - began)
    return best


def int8_ceiling(encoder, texts: list[str], batch_size: int = 32) -> list[dict]:
    import torch
    from torch.profiler import ProfilerActivity, profile

    model = copy.deepcopy(encoder).float()
    model.encode(texts[:batch_size], batch_size=batch_size)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        model.encode(texts, batch_size=batch_size)
    ops = prof.key_averages()
    share = sum(op.self_cpu_time_total for op in ops if op.key in ("aten::addmm", "aten::mm")) / sum(
        op.self_cpu_time_total for op in ops)
    lengths = [len(ids) for ids in model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]]
    tokens = batch_size * round(sum(lengths) / len(lengths))
    counts = Counter((layer.in_features, layer.out_features) for name, layer in model.named_modules()
                     if isinstance(layer, torch.nn.Linear) and "pooler" not in name)  # the pooler reads one token a text
    rows, fp32_total, int8_total = [], 0.0, 0.0
    for (inputs, outputs), count in counts.items():
        dense = torch.nn.Sequential(torch.nn.Linear(inputs, outputs)).eval()
        quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(dense), {torch.nn.Linear}, dtype=torch.qint8)
        x = torch.randn(tokens, inputs)
        with torch.inference_mode():
            fp32, int8 = _best_seconds(lambda: dense(x)), _best_seconds(lambda: quantized(x))
        ops_per_call = 2 * tokens * inputs * outputs
        rows.append({"linear layer": f"{inputs} -> {outputs} (x{count})", "tokens per batch": tokens,
                     "fp32 GFLOP/s": round(ops_per_call / fp32 / 1e9, 1),
                     "int8 GOP/s": round(ops_per_call / int8 / 1e9, 1), "int8 speed-up": round(fp32 / int8, 2)})
        fp32_total, int8_total = fp32_total + count * fp32, int8_total + count * int8
    ratio = fp32_total / int8_total
    rows.append({"linear layer": "all, weighted by count", "tokens per batch": tokens,
                 "int8 speed-up": round(ratio, 2), "share of fp32 encoder time in linear layers": round(share, 3),
                 "int8 encoder speed-up at most": round(1 / ((1 - share) + share / ratio), 2),
                 "int8 speed-up the linear layers would need for 2x": round(share / (0.5 - (1 - share)), 2)
                 if share > 0.5 else None})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DATA / "retrieval" / "aclsum-dev" / "corpus.jsonl")
    parser.add_argument("--questions", type=Path, default=DATA / "qa" / "aclsum-dev-questions.jsonl")
    parser.add_argument("--sample", type=int, default=1500, help="passages for the fp32/bf16 comparison")
    parser.add_argument("--ceiling-sample", type=int, default=256, help="passages for the int8 ceiling")
    parser.add_argument("--skip-upload", action="store_true", help="measure precision and the int8 ceiling only")
    parser.add_argument("--compare", nargs="*", default=["--kv-cache q8_0", "--kv-cache q8_0 --gguf-requantize off"],
                        help="upload to first answer with the defaults, then with each of these flags "
                             "(all vectors waited for with the defaults only)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="uploads per setting, interleaved; the table gives the median (lowest-highest)")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be 1 or more")

    from lmdemo.docqa.loaders import document_from_text
    from lmdemo.services import build_services
    from lmdemo.settings import load_settings

    services = build_services(load_settings([]))
    encoder = services.models.encoder()
    corpus = [json.loads(line) for line in args.corpus.open()]
    if not args.skip_upload:
        question = json.loads(args.questions.open().readline())["question"]
        runs = {flags: build_services(load_settings(flags.split())) for flags in ["", *args.compare]}
        for run in runs.values():
            run.preload().join()  # as the app does at start-up: the clock starts at the upload
        measured: dict[str, list[dict]] = {flags: [] for flags in runs}
        for round_ in range(args.rounds):  # interleaved, so a slower spell of the machine hits every setting
            for flags, run in runs.items():
                measured[flags].append(upload_to_first_answer(run, corpus, question,
                                                              all_vectors=round_ == 0 and not flags))
        rows = []
        for flags, run in runs.items():
            first, times = measured[flags][0], measured[flags]
            spread = {key: f"{statistics.median(t[key] for t in times):.2f} ({min(t[key] for t in times):.2f}-"
                           f"{max(t[key] for t in times):.2f})" for key in ("keyword search ready s", "first answer s")}
            rows.append({"settings": flags or "defaults", "chat model": run.models.gguf_chat().report.quantization,
                         "kv cache": run.settings.kv_cache, "rounds": len(times)} | first | spread
                        | {"encoder dtype": encoder.report.dtype})
        write("ingest_first_answer", rows)
    splitter = services.docqa.splitter()
    texts = [p.text for row in corpus for p in splitter.split(document_from_text(row["doc_id"], row["text"]))]
    write("embedding_precision", throughput(encoder.model, texts[: args.sample]))
    write("embedding_int8_ceiling", int8_ceiling(encoder.model, texts[: args.ceiling_sample]))


if __name__ == "__main__":
    main()
