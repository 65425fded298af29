"""llama.cpp against transformers on the same GGUF, side by side in one run (used by chat_speed.py).

Paths, all greedy, on the same prompts:
- raw `Llama.create_chat_completion` (llama-cpp-python's high-level API, one stream);
- raw low-level batch API: prompts prefilled, then one `llama_decode` per step for all sequences
  with a numpy argmax (the reference for batching), with the app's cache layout;
- the app's llama.cpp engine (`LlamaCppChatBackend`) and its transformers engine
  (`LocalChatBackend`, fp16 decoding copies): one chat, N concurrent chats, time to first token.
Decode rate of a stream = (tokens - 1) / (time of last - time of first); N chats = all tokens
generated after the first one appeared / the time until the last one ended.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

SYSTEM = "You are a helpful assistant."
TOPICS = ["a dragon who learns to paint", "the moon", "a river", "bread", "trains", "music", "bees", "glass"]
EQUALITY_PROMPTS = [
    "What is the capital of France?",
    "Explain photosynthesis in two sentences.",
    "Write a haiku about winter.",
    "Give me three tips for learning a new language.",
    "Describe a walk through a forest in autumn.",
]


def messages(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


def stories(n: int) -> list[list[dict[str, str]]]:
    return [messages(f"Write a long story about {TOPICS[i % len(TOPICS)]}.") for i in range(n)]


def stream_rate(stream) -> tuple[float, int]:
    """(decode tokens/s, tokens) of one stream of Chunks."""
    first = last = None
    tokens = first_count = 0
    for chunk in stream:
        now = time.perf_counter()
        if chunk.completion_tokens and first is None:
            first, first_count = now, chunk.completion_tokens
        last, tokens = now, chunk.completion_tokens
    return (tokens - first_count) / max(last - first, 1e-9), tokens


def concurrent_rate(backend: Any, prompts: list[list[dict[str, str]]], new_tokens: int) -> dict[str, float]:
    """Aggregate tokens/s of len(prompts) chats at once through a ChatBackend."""
    from lmdemo.models.types import SamplingParams

    params = SamplingParams(temperature=0.0, max_new_tokens=new_tokens, repetition_penalty=1.0)
    firsts: list[float] = []
    counts = [0] * len(prompts)
    lock = threading.Lock()

    def chat(i: int) -> None:
        for chunk in backend.stream(prompts[i], params):
            if chunk.completion_tokens and not counts[i]:
                with lock:
                    firsts.append(time.perf_counter())
            counts[i] = chunk.completion_tokens

    threads = [threading.Thread(target=chat, args=(i,)) for i in range(len(prompts))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - min(firsts)
    return {"tok_s": (sum(counts) - len(prompts)) / elapsed, "tokens": sum(counts)}


def first_token_seconds(backend: Any, prompt: list[dict[str, str]]) -> float:
    from lmdemo.models.types import SamplingParams

    started = time.perf_counter()
    stream = backend.stream(prompt, SamplingParams(temperature=0.0, max_new_tokens=4, repetition_penalty=1.0))
    next(stream)
    elapsed = time.perf_counter() - started
    stream.close()
    return elapsed


def raw_chat_completion(gguf: Path, threads: int, prompt: list[dict[str, str]], new_tokens: int) -> float:
    """Decode tokens/s of llama-cpp-python's own chat completion (one content chunk per token), with the
    engine's default cache settings."""
    from llama_cpp import Llama

    from lmdemo.models.llamacpp.batching import KV_TYPES
    from lmdemo.models.types import BatchingConfig

    kv_type, flash = KV_TYPES[BatchingConfig().kv_cache]
    llm = Llama(str(gguf), n_ctx=4096, n_threads=threads, n_threads_batch=threads, flash_attn=flash,
                type_k=kv_type, type_v=kv_type, verbose=False)
    first = last = None
    count = 0
    for event in llm.create_chat_completion(prompt, temperature=0.0, max_tokens=new_tokens, stream=True):
        if event["choices"][0]["delta"].get("content"):
            last = time.perf_counter()
            first = first or last
            count += 1
    llm.close()
    return (count - 1) / max(last - first, 1e-9)


def raw_greedy(gguf: Path, threads: int, prompt_ids: list[list[int]], new_tokens: int, kv_cache: str) -> list[str]:
    """llama.cpp's own greedy continuation of each prompt (the high-level API, one prompt at a time),
    with the engine's settings for `kv_cache` (type of keys and values, flash attention or not)."""
    from llama_cpp import Llama

    from lmdemo.models.llamacpp.batching import KV_TYPES

    kv_type, flash = KV_TYPES[kv_cache]
    llm = Llama(str(gguf), n_ctx=4096, n_threads=threads, n_threads_batch=threads, flash_attn=flash,
                type_k=kv_type, type_v=kv_type, verbose=False)
    texts = [llm.create_completion(ids, max_tokens=new_tokens, temperature=0.0)["choices"][0]["text"]
             for ids in prompt_ids]
    llm.close()
    return texts


def raw_batched(model: Any, threads: int, prompt_ids: list[list[int]], new_tokens: int) -> float:
    """Aggregate decode tokens/s of the bare batch API: every sequence's token in one llama_decode per
    step, numpy argmax, with the engine's default cache layout (one cache per sequence, its type of keys
    and values, flash attention or not)."""
    import llama_cpp as lc
    import numpy as np

    from lmdemo.models.llamacpp.batching import KV_TYPES
    from lmdemo.models.types import BatchingConfig

    n = len(prompt_ids)
    params = lc.llama_context_default_params()
    params.n_ctx = n * 2048
    params.n_batch = params.n_ubatch = 512
    params.n_seq_max = n
    params.n_threads = params.n_threads_batch = threads
    params.kv_unified = False
    params.type_k, flash = KV_TYPES[BatchingConfig().kv_cache]
    params.type_v = params.type_k
    params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED if flash else lc.LLAMA_FLASH_ATTN_TYPE_DISABLED
    ctx = lc.llama_init_from_model(model.model, params)
    batch = lc.llama_batch_init(512, 0, 1)

    def argmax(row: int) -> int:
        return int(np.argmax(np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, row), shape=(model.n_vocab,))))

    def decode(entries: list[tuple[int, int, int, bool]]) -> None:
        for i, (token, position, seq, logits) in enumerate(entries):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, position, 1
            batch.seq_id[i][0], batch.logits[i] = seq, logits
        batch.n_tokens = len(entries)
        assert lc.llama_decode(ctx, batch) == 0

    last = []
    for seq, ids in enumerate(prompt_ids):
        decode([(t, p, seq, p == len(ids) - 1) for p, t in enumerate(ids)])
        last.append(argmax(len(ids) - 1))
    positions = [len(ids) for ids in prompt_ids]
    started = time.perf_counter()
    for _ in range(new_tokens - 1):
        decode([(last[s], positions[s], s, True) for s in range(n)])
        last = [argmax(s) for s in range(n)]
        positions = [p + 1 for p in positions]
    elapsed = time.perf_counter() - started
    lc.llama_batch_free(batch)
    lc.llama_free(ctx)
    return n * (new_tokens - 1) / elapsed


def reference_perplexity(model: Any, ids: list[int]) -> float:
    """Perplexity of llama.cpp's next-token predictions over `ids` (one decode, logits for every token;
    llama.cpp's default context: f16 cache, flash attention where it picks it), once per file."""
    import llama_cpp as lc
    import numpy as np

    params = lc.llama_context_default_params()
    params.n_ctx = params.n_batch = params.n_ubatch = max(512, len(ids))
    ctx = lc.llama_init_from_model(model.model, params)
    batch = lc.llama_batch_init(len(ids), 0, 1)
    for i, token in enumerate(ids):
        batch.token[i], batch.pos[i], batch.n_seq_id[i], batch.logits[i] = token, i, 1, True
        batch.seq_id[i][0] = 0
    batch.n_tokens = len(ids)
    assert lc.llama_decode(ctx, batch) == 0
    losses = []
    for i in range(len(ids) - 1):
        logits = np.ctypeslib.as_array(lc.llama_get_logits_ith(ctx, i), shape=(model.n_vocab,)).astype(np.float64)
        logits -= logits.max()
        losses.append(np.log(np.exp(logits).sum()) - logits[ids[i + 1]])
    lc.llama_batch_free(batch)
    lc.llama_free(ctx)
    return float(np.exp(np.mean(losses)))


def gguf_type_rows(gguf: Path, prompt: list[int], text_ids: list[int], threads: int, folder: Path) -> list[dict]:
    """The packaged GGUF re-quantized by llama.cpp to other types, each with each of the engine's caches
    (`--kv-cache`): file size, prompt time, decode rate after a short and after the long prompt, the
    cache's memory (8 replies of 2048 tokens); perplexity once per file (what a user gets by picking it)."""
    import llama_cpp as lc

    from lmdemo.models.llamacpp.batching import KV_TYPES, LlamaCppScheduler
    from lmdemo.models.llamacpp.model import LlamaCppModel
    from lmdemo.models.types import BatchingConfig, SamplingParams

    files = {"as packaged (Q4_1)": gguf}
    for name in ("Q4_0", "Q4_K_M", "Q8_0"):
        target = folder / f"{gguf.stem}-{name}.gguf"
        params = lc.llama_model_quantize_default_params()
        params.ftype, params.allow_requantize, params.nthread = getattr(lc, f"LLAMA_FTYPE_MOSTLY_{name}"), True, threads
        assert lc.llama_model_quantize(str(gguf).encode(), str(target).encode(), params) == 0
        files[f"re-quantized to {name}"] = target
    rows = []
    greedy = SamplingParams(temperature=0.0, max_new_tokens=128, repetition_penalty=1.0)
    for label, path in files.items():
        model = LlamaCppModel(path)
        perplexity = reference_perplexity(model, text_ids)
        for kv_cache in KV_TYPES:
            scheduler = LlamaCppScheduler(model, BatchingConfig(kv_cache_tokens=16384, kv_cache=kv_cache), threads)
            firsts = []
            for _ in range(3):
                started = time.perf_counter()
                stream = scheduler.submit(prompt, 2, greedy, threading.Event())
                next(stream)
                firsts.append(time.perf_counter() - started)
                stream.close()
            rate, _ = stream_rate(scheduler.submit(prompt[-64:], 128, greedy, threading.Event()))
            rate_long, _ = stream_rate(scheduler.submit(prompt, 128, greedy, threading.Event()))
            scheduler.close()
            rows.append({"gguf": label, "kv_cache": kv_cache, "file_mb": path.stat().st_size / 2**20,
                         "ttft_s": min(firsts), "decode_tok_s": rate, "decode_after_prompt_tok_s": rate_long,
                         "cache_mb": scheduler.cache_bytes / 2**20, "perplexity": perplexity})
        model.close()
    return rows
