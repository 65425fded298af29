"""ZeroGPU for real: the app under the `spaces` package's own fork path, with a stand-in device API.

The `zerogpu_app` fixture (tests/zerogpu/sim_app.py) starts app.py with SPACES_ZERO_GPU set; the
chat model (a tiny random Llama) is moved to the emulated GPU at start-up, packed at launch, and
every model task runs in a worker process forked per call. The first test is the one that catches the silent failure of a
model used from the main process there: its weights read as zeros, so its reply would differ
from the same model's reply computed here.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests import docfiles
from tests.conftest import RunningApp
from tests.zerogpu.device_api import DeviceAPI

SYSTEM = "You are a helpful assistant."
WORKER_LINE = re.compile(r"zerogpu task (\w+) in process (\d+): (\w+) after (\d+) items")


@pytest.fixture(scope="module")
def reference_model(tiny_llama_dir: Path):
    """The same model loaded plainly in this process, in the dtype the app chose on the emulated GPU."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_llama_dir, dtype=torch.bfloat16).eval()
    return model, AutoTokenizer.from_pretrained(tiny_llama_dir)


def _reference_reply(reference_model, message: str, max_new_tokens: int) -> str:
    from lmdemo.models.generation import stream_chat
    from lmdemo.models.types import SamplingParams

    model, tokenizer = reference_model
    params = SamplingParams(temperature=0.0, max_new_tokens=max_new_tokens, repetition_penalty=1.0)
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": message}]
    return "".join(chunk.text for chunk in stream_chat(model, tokenizer, messages, params))


def _worker_lines(app: RunningApp) -> list[tuple[str, int, str, int]]:
    return [(t, int(pid), end, int(n)) for t, pid, end, n in WORKER_LINE.findall(app.log.read_text())]


def _wait_for(condition, timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_zerogpu_chat_streams_from_the_forked_worker_with_the_real_weights(
    zerogpu_app: RunningApp, device_api: DeviceAPI, reference_model
) -> None:
    client = Client(zerogpu_app.url, verbose=False)
    job = client.submit("hi", temperature=0.0, max_new_tokens=48, repetition_penalty=1.0, api_name="/chat")
    reply = job.result(timeout=120)
    partials = job.outputs()
    expected = _reference_reply(reference_model, "hi", 48)
    assert expected.strip(), "the reference model must say something for the comparison to mean anything"
    assert reply == expected, "the reply differs from the model's own: weights were not the real ones"
    assert len(partials) > 1 and all(b.startswith(a) for a, b in zip(partials, partials[1:]))
    workers = [pid for task, pid, end, _ in _worker_lines(zerogpu_app) if task == "generate_task" and end == "finished"]
    assert workers and zerogpu_app.process.pid not in workers, "generation must run in a forked worker"
    assert device_api.count("/allow") >= 1 and device_api.count("/release") >= 1


def test_zerogpu_stop_ends_generation_inside_the_worker_and_the_next_request_works(
    zerogpu_app: RunningApp, reference_model
) -> None:
    # The cancel request returns once the worker has ended the task, and `spaces` checks for Stop only
    # between yielded pieces: the random test model writes few word breaks, so that takes ~4.5 s here,
    # near httpx's default 5 s timeout (a real model yields a piece every token or two).
    client = Client(zerogpu_app.url, verbose=False, httpx_kwargs={"timeout": 60})
    before = len(_worker_lines(zerogpu_app))
    job = client.submit("Tell me a story.", temperature=0.0, max_new_tokens=2048, repetition_penalty=1.0,
                        api_name="/chat")
    assert _wait_for(lambda: len(job.outputs()) >= 3), "the long reply should be streaming"
    job.cancel()
    assert _wait_for(lambda: len(_worker_lines(zerogpu_app)) > before, timeout=30), "the worker never ended the task"
    task, pid, end, items = _worker_lines(zerogpu_app)[before]
    assert (task, end) == ("generate_task", "stopped") and pid != zerogpu_app.process.pid
    assert items < 2048, "Stop must end generation inside the worker, long before max new tokens"
    assert client.predict("hi", temperature=0.0, max_new_tokens=16, repetition_penalty=1.0,
                          api_name="/chat") == _reference_reply(reference_model, "hi", 16)


def test_zerogpu_document_qa_answer_is_generated_in_the_worker(zerogpu_app: RunningApp, tmp_path: Path) -> None:
    client = Client(zerogpu_app.url, verbose=False)
    doc = tmp_path / "zorblat.md"
    doc.write_text(docfiles.ZORBLAT_MD)
    assert "zorblat.md: 1 passage" in client.predict([handle_file(str(doc))], api_name="/ingest")
    before = len(_worker_lines(zerogpu_app))
    answer, _sources = client.predict("Who founded Zorblat Station?", api_name="/ask")
    assert answer.strip() and answer != "The documents do not contain an answer to this question."
    new = _worker_lines(zerogpu_app)[before:]
    assert [task for task, _, _, _ in new] == ["generate_task"]
    assert new[0][2] in ("finished", "stopped"), "stopped: Document QA's repetition guard ended a looping answer"


def test_zerogpu_lab_next_token_runs_in_the_worker(zerogpu_app: RunningApp, reference_model) -> None:
    import torch

    rows = Client(zerogpu_app.url, verbose=False).predict("The capital of France is", 5, 1.0, api_name="/next_token")
    model, tokenizer = reference_model
    with torch.inference_mode():
        logits = model(**tokenizer("The capital of France is", return_tensors="pt")).logits[0, -1]
    expected = [tokenizer.decode([int(i)]) for i in torch.topk(logits.float(), 5).indices]
    assert [row["token"] for row in rows] == expected
    assert _worker_lines(zerogpu_app)[-1][0] == "next_token_task"


def test_zerogpu_quota_exceeded_reaches_the_user_as_a_clear_message(
    zerogpu_app: RunningApp, device_api: DeviceAPI
) -> None:
    client = Client(zerogpu_app.url, verbose=False)
    device_api.refuse_next = 1
    with pytest.raises(Exception, match="No GPU for this request right now: Space app has reached its GPU limit"):
        client.predict("hi", temperature=0.0, max_new_tokens=8, api_name="/chat")
    assert client.predict("hi", temperature=0.0, max_new_tokens=8, repetition_penalty=1.0, api_name="/chat")


def test_zerogpu_durations_asked_for_are_bounded(zerogpu_app: RunningApp, device_api: DeviceAPI) -> None:
    Client(zerogpu_app.url, verbose=False).predict("hi", max_new_tokens=600, api_name="/chat")
    durations = [int(query["durationSeconds"]) for path, query in device_api.calls if path == "/schedule"]
    assert durations and all(10 <= d <= 120 for d in durations)
    assert max(durations) > min(durations), "a longer reply asks for more GPU time"
