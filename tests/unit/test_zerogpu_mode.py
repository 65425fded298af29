"""ZeroGPU mode forced on (`zero_gpu=True`) without the SPACES_ZERO_GPU variable: the GPU calls run
inline, but through the same decorated functions, with the same plain-data rule and limits."""

from __future__ import annotations

import logging
import pickle
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import pytest
import torch

from lmdemo import hosting
from lmdemo.errors import GpuUnavailableError, UserError
from lmdemo.hosting import zerogpu
from lmdemo.lab.service import attention_task, next_token_task
from lmdemo.models.backend import PerCallChatBackend, generate_task
from lmdemo.models.memory import OutOfMemoryError
from lmdemo.models.runner import check_plain, model_task
from lmdemo.models.types import SamplingParams
from lmdemo.services import Services, build_services
from lmdemo.settings import Settings, load_settings
from lmdemo.tasks.classify import TrainConfig
from lmdemo.tasks.dataset import LabelledTexts
from lmdemo.tasks.service import fine_tune_task

GREEDY = SamplingParams(temperature=0.0, max_new_tokens=12, repetition_penalty=1.0)
TOY = LabelledTexts(
    ["apple banana", "sweet fruit apple", "banana fruit", "fruit apple sweet", "car truck", "truck engine wheel",
     "engine car", "wheel truck car"] * 3,
    ["fruit"] * 4 + ["vehicle"] * 4 + ["fruit"] * 4 + ["vehicle"] * 4 + ["fruit"] * 4 + ["vehicle"] * 4,
)


@pytest.fixture
def services(tiny_llama_dir: Path, tiny_bert_dir: Path, tmp_path: Path) -> Services:
    settings = Settings(
        zero_gpu=True, chat_model=str(tiny_llama_dir), encoder_model=str(tiny_bert_dir), device="cpu",
        cache_dir=tmp_path, temperature=0.0, rate_limit_per_minute=0, docqa_min_relevance=-1.0,
    )
    built = build_services(settings)
    zerogpu.load_at_start(built.models)  # what hosting.start does, without its process-wide thread check
    return built


def _model_threads() -> set[threading.Thread]:
    """Model threads alive now (other tests may leave batching loops running: compare before and after)."""
    return {t for t in threading.enumerate() if any(m in t.name for m in zerogpu.MODEL_THREAD_MARKERS)}


@pytest.fixture
def tasks_run(caplog: pytest.LogCaptureFixture) -> Iterator[list[tuple[str, str]]]:
    """(task, how it ended) for every GPU call, read from the log line each call writes."""
    caplog.set_level(logging.INFO, logger="lmdemo.hosting.zerogpu")
    runs: list[tuple[str, str]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("zerogpu task"):
                runs.append((record.args[0], record.args[2]))  # type: ignore[index]

    handler = Collect()
    logging.getLogger("lmdemo.hosting.zerogpu").addHandler(handler)
    yield runs
    logging.getLogger("lmdemo.hosting.zerogpu").removeHandler(handler)


def _reply(services: Services, message: str = "hi") -> str:
    *_, last = services.chat.reply(message, [], "", GREEDY)
    return last.text


def test_zerogpu_mode_starts_no_model_thread_and_chats_through_gpu_calls(
    tiny_llama_dir: Path, tiny_bert_dir: Path, tmp_path: Path, tasks_run: list[tuple[str, str]]
) -> None:
    before = _model_threads()
    settings = Settings(zero_gpu=True, chat_model=str(tiny_llama_dir), encoder_model=str(tiny_bert_dir), device="cpu",
                        cache_dir=tmp_path, rate_limit_per_minute=0)
    services = build_services(settings)
    if before:  # another test left a batching loop running: hosting.start's process-wide check would see it
        zerogpu.load_at_start(services.models)
    else:
        hosting.start(services)
    assert isinstance(services.models.backend(), PerCallChatBackend)
    assert _model_threads() == before
    reply = _reply(services)
    assert reply.strip()
    assert tasks_run == [("generate_task", "finished")]
    assert _model_threads() == before, "the reply's generate thread must be gone when the call ends"
    assert _reply(services) == reply, "greedy replies repeat exactly"


def test_zerogpu_start_refuses_a_batching_loop_in_the_main_process(services: Services, tmp_path: Path,
                                                                   tiny_llama_dir: Path) -> None:
    from lmdemo.models.backend import LocalChatBackend
    from lmdemo.models.manager import ModelManager
    from lmdemo.models.types import BatchingConfig

    loop = LocalChatBackend(ModelManager(Settings(chat_model=str(tiny_llama_dir), device="cpu", cache_dir=tmp_path)),
                            BatchingConfig(kv_cache_tokens=1024)).scheduler()
    try:
        with pytest.raises(RuntimeError, match="model threads running in the main process"):
            zerogpu.assert_no_model_threads()
    finally:
        loop.close()


def test_zerogpu_chat_model_refuses_to_run_outside_a_gpu_call(services: Services) -> None:
    model = services.models.chat().model
    with pytest.raises(RuntimeError, match="ran outside a GPU call"):
        model(torch.tensor([[1, 2, 3]]))


def test_zerogpu_every_model_running_service_goes_through_a_gpu_call(
    services: Services, tasks_run: list[tuple[str, str]]
) -> None:
    index = services.docqa.new_index()
    from lmdemo.docqa.loaders import document_from_text

    services.docqa.ingest_documents(index, [document_from_text("fox.md", "The quick brown fox jumps over the dog.")])
    *_, answer = services.docqa.ask(index, "What does the quick brown fox jump over?", GREEDY)
    assert answer.done and tasks_run[-1][0] == "generate_task"
    assert services.summarize.summary("Foxes jump. Dogs sleep. Cats watch.", "abstractive", 1)
    assert tasks_run[-1][0] == "generate_task"
    from lmdemo.tasks.classify import parse_labels

    services.classify.zero_shot_chat(["The fox runs."], parse_labels("animal, car"))
    assert tasks_run[-1][0] == "generate_task"
    rows = services.lab.next_token("The quick brown", 5, show=5)
    assert len(rows) == 5 and tasks_run[-1][0] == "next_token_task"
    tokens, matrix = services.lab.attention("The quick brown fox", "gpt", 0, None)
    assert matrix.shape == (len(tokens), len(tokens)) and tasks_run[-1][0] == "attention_task"
    model = services.classify.fine_tune(TOY, TrainConfig(epochs=1, batch_size=8))
    assert tasks_run[-1] == ("fine_tune_task", "finished")
    assert model.predict(["apple"])[0].label in {"fruit", "vehicle"}
    assert all(end in ("finished", "stopped") for _, end in tasks_run), "none failed"
    assert all(end == "finished" for task, end in tasks_run if task != "generate_task"), (
        "only a generation may be stopped early (a stop string, or the repetition guard on the random model's loops)")


def test_zerogpu_fine_tuned_weights_come_back_to_the_session(services: Services) -> None:
    updates = list(services.classify.fine_tune_stream(TOY, TrainConfig(epochs=10, batch_size=8, learning_rate=1e-3, patience=0)))
    final = updates[-1]
    assert final.model is not None and final.archive[:2] == b"PK"
    assert [u.fraction for u in updates] == sorted(u.fraction for u in updates)
    assert [p.label for p in final.model.predict(["banana apple fruit", "truck wheel engine"])] == ["fruit", "vehicle"]
    assert final.model.metrics["support"] > 0


def test_zerogpu_cancel_stops_fine_tuning_inside_the_call(services: Services,
                                                          tasks_run: list[tuple[str, str]]) -> None:
    stream = services.classify.fine_tune_stream(TOY, TrainConfig(epochs=200, batch_size=2, patience=0))
    for update in stream:
        if update.fraction > 0.01:
            break
    stream.close()
    deadline = time.monotonic() + 30
    while any(t.name == "lmdemo-finetune" for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == "lmdemo-finetune" for t in threading.enumerate())
    assert tasks_run[-1] == ("fine_tune_task", "stopped")


def test_zerogpu_stop_ends_generation(services: Services, tasks_run: list[tuple[str, str]]) -> None:
    params = SamplingParams(temperature=0.0, max_new_tokens=2000, repetition_penalty=1.0)
    stream = services.chat.reply("Tell me a story.", [], "", params)
    next(stream)
    next(stream)
    stream.close()
    assert tasks_run[-1] == ("generate_task", "stopped")
    assert not any(t.name == "lmdemo-generate" for t in threading.enumerate()), "generation must end with Stop"


def test_zerogpu_values_crossing_are_plain_and_pickle(services: Services) -> None:
    ids = [1, 2, 3, 4]
    items = list(services.runner.stream(generate_task, ids, 5, SamplingParams(temperature=0.0).__dict__))
    assert items and items[-1]["finish_reason"] == "length"
    for item in items:
        assert check_plain(item) == pickle.loads(pickle.dumps(item))
    rows = services.runner.call(next_token_task, "The quick", 1.0, 0, 1.0, 3)
    assert check_plain(rows) == pickle.loads(pickle.dumps(rows))
    with pytest.raises(TypeError, match="is a Tensor"):
        check_plain({"weights": torch.zeros(2)})
    with pytest.raises(TypeError, match="non-string key"):
        check_plain({1: "a"})


@model_task(lambda max_seconds, *args: 1.0)
def _tensor_task(models, n: int) -> Iterator[object]:
    yield torch.zeros(n)


@model_task(lambda max_seconds, *args: 1.0)
def _refusing_task(models, kind: str) -> object:
    if kind == "busy":
        raise GpuUnavailableError("all GPUs busy", "所有 GPU 都在忙")
    if kind == "oom":
        raise OutOfMemoryError("The GPU ran out of memory while writing this reply.")
    raise ValueError("a bug")


def test_zerogpu_failures_inside_the_call_come_back_as_messages(services: Services) -> None:
    with pytest.raises(UserError, match="The GPU task failed.*TypeError: yielded value is a Tensor"):
        list(services.runner.stream(_tensor_task, 3))
    with pytest.raises(GpuUnavailableError, match="all GPUs busy") as busy:
        services.runner.call(_refusing_task, "busy")
    assert busy.value.said(chinese=True) == "所有 GPU 都在忙", "the Chinese message crosses back too"
    with pytest.raises(UserError, match="ran out of memory while writing this reply"):
        services.runner.call(_refusing_task, "oom")
    with pytest.raises(UserError, match=r"The GPU task failed \(ValueError: a bug\)"):
        services.runner.call(_refusing_task, "other")
    with pytest.raises(TypeError, match="arguments"):
        services.runner.call(_refusing_task, object())


@pytest.mark.parametrize(
    ("title", "message", "expected", "kind"),
    [
        ("ZeroGPU quota exceeded", "You have exceeded your free ZeroGPU quota (60s requested vs. 12s left).",
         "No GPU for this request right now: You have exceeded your free ZeroGPU quota", GpuUnavailableError),
        ("ZeroGPU queue timeout", "No GPU was available after 60s", "No GPU was available after 60s",
         GpuUnavailableError),
        ("ZeroGPU illegal duration", "The requested GPU duration (300s) is larger than the maximum allowed",
         "larger than the maximum allowed. Ask for fewer new tokens", UserError),
        ("ZeroGPU worker error", "GPU task aborted", r"The GPU worker stopped \(GPU task aborted\)", UserError),
    ],
)
def test_zerogpu_own_errors_become_clear_messages(
    services: Services, monkeypatch: pytest.MonkeyPatch, title: str, message: str, expected: str, kind: type
) -> None:
    def refuse(*args: object) -> None:
        raise gr.Error(message, title=title)

    monkeypatch.setattr(zerogpu, "_gpu_call", refuse)
    monkeypatch.setattr(zerogpu, "_gpu_stream", refuse)
    with pytest.raises(kind, match=expected):
        services.runner.call(next_token_task, "The", 1.0, 0, 1.0, 3)
    with pytest.raises(kind, match=expected):
        _reply(services)


def test_zerogpu_durations_stay_within_bounds(services: Services) -> None:
    runner = services.runner
    low = {
        generate_task: ([1], 1, {}),
        next_token_task: ("x", 1.0, 0, 1.0, 5),
        attention_task: ("x", 0, None),
        fine_tune_task: (["a", "b"], ["x", "y"], {"epochs": 1}, "none"),
    }
    for task, args in low.items():
        assert zerogpu.MIN_SECONDS <= runner.seconds(task, args) <= 120
    assert runner.seconds(generate_task, ([1] * 4000, 10**6, {})) == 120
    assert runner.seconds(generate_task, ([1] * 50, 512, {})) > runner.seconds(generate_task, ([1] * 50, 16, {}))
    with pytest.raises(UserError, match=r"Fine-tuning 20,000 rows for 3 epoch\(s\).*Use at most 3,333 rows"):
        runner.seconds(fine_tune_task, (["a"] * 20_000, ["x"] * 20_000, {"epochs": 3}, "none"))


def test_zerogpu_settings_follow_the_space(tmp_path: Path) -> None:
    on_zero = load_settings([], env={"SPACES_ZERO_GPU": "true", "SPACE_ID": "me/demo"})
    assert on_zero.zero_gpu and on_zero.profile == "zerogpu"
    assert on_zero.encoder_placement == "cpu" and on_zero.device == "auto"
    assert load_settings([], env={"SPACE_ID": "me/demo"}).profile == "offline", "a CPU Space runs the packaged models"
    assert not load_settings([], env={"SPACE_ID": "me/demo"}).zero_gpu
    forced = load_settings(["--zero-gpu"], env={})
    assert forced.zero_gpu and forced.profile == "offline", "forcing the mode keeps the machine's own models"
    assert not load_settings([], env={"SPACES_ZERO_GPU": "true", "LMDEMO_ZERO_GPU": "false",
                                      "LMDEMO_PROFILE": "offline"}).zero_gpu
    with pytest.raises(ValueError, match="ZeroGPU mode runs models in this app"):
        load_settings(["--zero-gpu", "--profile", "remote", "--base-url", "http://x/v1", "--chat-model", "m"], env={})


def test_zerogpu_replies_share_bounded_slots(services: Services) -> None:
    from lmdemo.errors import ServerBusyError
    from lmdemo.limits import Slots

    backend = PerCallChatBackend(services.models, services.runner, Slots(1, 0))
    messages = [{"role": "user", "content": "hi"}]
    first = backend.stream(messages, SamplingParams(temperature=0.0, max_new_tokens=500, repetition_penalty=1.0))
    next(first)
    with pytest.raises(ServerBusyError, match=r"busy \(1 replies running and 0 waiting\)"):
        next(backend.stream(messages, GREEDY))
    first.close()
    assert list(backend.stream(messages, GREEDY))[-1].finish_reason == "length"
