"""Out-of-memory becomes a message for one request and memory is freed."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from lmdemo.models import memory
from lmdemo.models.backend import LocalChatBackend
from lmdemo.models.manager import ModelManager
from lmdemo.models.memory import OutOfMemoryError
from lmdemo.models.types import BatchingConfig
from lmdemo.models.types import SamplingParams
from lmdemo.settings import Settings


@pytest.fixture
def freed(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    calls: list[bool] = []
    real = memory.free_memory
    monkeypatch.setattr(memory, "free_memory", lambda: (calls.append(True), real()))
    return calls


def test_out_of_memory_while_generating_is_a_clear_error_and_frees_memory(
    tiny_llama_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, freed: list[bool]
) -> None:
    settings = Settings(chat_model=str(tiny_llama_dir), device="cpu", cache_dir=tmp_path)
    backend = LocalChatBackend(ModelManager(settings), BatchingConfig(kv_cache_tokens=4096))
    model = backend.scheduler()._model
    penalised = SamplingParams(temperature=0, max_new_tokens=5, repetition_penalty=1.3)  # the unbatched path

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(model, "forward", no_memory)
    with pytest.raises(OutOfMemoryError, match="ran out of memory while writing this reply"):
        list(backend.stream([{"role": "user", "content": "hi"}], penalised, threading.Event()))
    assert freed
    monkeypatch.undo()
    chunks = list(backend.stream([{"role": "user", "content": "hi"}], penalised, threading.Event()))
    assert chunks[-1].completion_tokens == 5


def test_out_of_memory_while_loading_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      freed: list[bool]) -> None:
    from lmdemo.models import manager as manager_module

    def no_memory(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(manager_module, "load_causal_lm", no_memory)
    manager = ModelManager(Settings(device="cpu", cache_dir=tmp_path))
    with pytest.raises(OutOfMemoryError, match="loading the chat model.*--quantization 4bit"):
        manager.chat()
    assert freed and manager.reports() == []


def test_other_errors_pass_through_unchanged() -> None:
    with pytest.raises(ValueError, match="plain"):
        with memory.out_of_memory_guard("testing", ""):
            raise ValueError("plain")

