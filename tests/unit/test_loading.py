"""Loading tiny random models: reports, quantization with bitsandbytes, fallback, manager."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from lmdemo.models import loading
from lmdemo.models.loading import (
    ModelLoadError,
    load_causal_lm,
    load_encoder,
    load_sequence_classifier,
)
from lmdemo.models.manager import ModelManager
from lmdemo.settings import Settings


def test_causal_lm_report(tiny_llama_dir: Path, tmp_path: Path) -> None:
    loaded = load_causal_lm(str(tiny_llama_dir), device="cpu", cache_dir=tmp_path, cpu_decode="fp32")
    r = loaded.report
    params = sum(p.numel() for p in loaded.model.parameters())
    assert (r.role, r.device, r.dtype, r.quantization) == ("chat", "cpu", "float32", "none")
    assert r.footprint_mb == pytest.approx(params * 4 / 2**20, abs=0.1)
    assert r.load_seconds > 0


def test_encoder_embeds_normalised_vectors(tiny_bert_dir: Path, tmp_path: Path) -> None:
    loaded = load_encoder(str(tiny_bert_dir), device="cpu", cache_dir=tmp_path)
    vectors = loaded.model.encode(["hello world", "paris"], normalize_embeddings=True)
    assert vectors.shape == (2, 64)
    assert torch.allclose(torch.tensor(vectors).norm(dim=1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("mode", ["8bit", "4bit"])
def test_classifier_head_stays_out_of_quantization(
    mode: str, tiny_bert_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import bitsandbytes as bnb

    loaded = load_sequence_classifier(
        str(tiny_bert_dir), labels=["a", "b", "c"], device="cpu", quantization=mode, cache_dir=tmp_path
    )
    model = loaded.model
    quantized = bnb.nn.Linear8bitLt if mode == "8bit" else bnb.nn.Linear4bit
    assert isinstance(model.bert.encoder.layer[0].attention.self.query, quantized)
    assert type(model.classifier) is torch.nn.Linear
    assert loaded.report.quantization == mode
    assert model.config.id2label == {0: "a", 1: "b", 2: "c"}
    batch = loaded.tokenizer(["paris is lovely"], return_tensors="pt")
    caplog.clear()  # only what the forward pass logs (importing bitsandbytes may warn once on AVX512-BF16 CPUs)
    with caplog.at_level("WARNING"):
        assert model(**batch).logits.shape == (1, 3)
    assert not [r for r in caplog.records if r.name.startswith("bitsandbytes")], "bitsandbytes per-matmul log"


def test_missing_bitsandbytes_falls_back_to_unquantized(
    tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loading, "bitsandbytes_problem", lambda: "bitsandbytes is not usable (test)")
    loaded = load_causal_lm(str(tiny_llama_dir), device="cpu", quantization="4bit", cache_dir=tmp_path)
    assert loaded.report.quantization == "none"
    assert "not usable" in loaded.report.note and "unquantized" in loaded.report.note
    import bitsandbytes as bnb

    quantized = (bnb.nn.Linear4bit, bnb.nn.Linear8bitLt)
    assert not any(isinstance(m, quantized) for m in loaded.model.modules())


def test_asking_for_cuda_without_a_gpu_is_a_clear_error(tiny_llama_dir: Path, tmp_path: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ModelLoadError, match="no CUDA GPU"):
        load_causal_lm(str(tiny_llama_dir), device="cuda", cache_dir=tmp_path)


def test_model_without_chat_template_is_refused(tiny_llama_dir: Path, tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "no-template"
    shutil.copytree(tiny_llama_dir, folder)
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    config = (folder / "tokenizer_config.json").read_text()
    import json

    data = json.loads(config)
    data.pop("chat_template", None)
    (folder / "tokenizer_config.json").write_text(json.dumps(data))
    with pytest.raises(ModelLoadError, match="no chat template"):
        load_causal_lm(str(folder), device="cpu", cache_dir=tmp_path)


def test_manager_loads_once_when_many_ask_at_once(
    tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = loading.load_causal_lm

    def counting(*args, **kwargs):
        calls.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr("lmdemo.models.manager.load_causal_lm", counting)
    manager = ModelManager(Settings(chat_model=str(tiny_llama_dir), device="cpu", cache_dir=tmp_path))
    results = []
    threads = [threading.Thread(target=lambda: results.append(manager.chat())) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1
    assert len({id(r) for r in results}) == 1
    assert [r.role for r in manager.reports()] == ["chat"]


@pytest.mark.parametrize(("device", "cudnn_after"), [("cpu", True), ("cuda", False)])
def test_cudnn_attention_is_turned_off_only_for_gpu_models(device: str, cudnn_after: bool) -> None:
    before = torch.backends.cuda.cudnn_sdp_enabled()
    torch.backends.cuda.enable_cudnn_sdp(True)
    try:
        loading.prefer_flash_sdpa(device)
        assert torch.backends.cuda.cudnn_sdp_enabled() is cudnn_after
    finally:
        torch.backends.cuda.enable_cudnn_sdp(before)


def test_a_forked_worker_does_not_inherit_a_held_loading_lock() -> None:
    """ZeroGPU forks a worker per call while another thread may be loading a model."""
    import os

    from lmdemo.models import loading

    with loading._LOADING:
        pid = os.fork()
        if pid == 0:
            os._exit(0 if loading._LOADING.acquire(timeout=2) else 1)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
