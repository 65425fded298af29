"""The app with ZeroGPU mode forced on (`--zero-gpu`, no Space): every endpoint that runs the chat
model, and fine-tuning, goes through a GPU call, and the answers are the same as in normal mode."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from openai import OpenAI

from tests import docfiles
from tests.conftest import RunningApp
from tests.questions import ANSWER, QUESTION

TASK_LINE = re.compile(r"zerogpu task (\w+) in process \d+: (\w+)")


@pytest.fixture(scope="module")
def forced_app() -> Iterator[RunningApp]:
    with RunningApp(["--zero-gpu", "--profile", "offline"]) as app:
        yield app


# one GPU call; "stopped" when the app ended it early (the repetition guard or a stop string on a looping reply)
ONE_GENERATION = ([("generate_task", "finished")], [("generate_task", "stopped")])


def _tasks(app: RunningApp) -> list[tuple[str, str]]:
    return TASK_LINE.findall(app.log.read_text())


def _after(app: RunningApp, action) -> tuple[object, list[tuple[str, str]]]:
    before = len(_tasks(app))
    result = action()
    return result, _tasks(app)[before:]


def test_zerogpu_forced_every_model_endpoint_runs_in_a_gpu_call(forced_app: RunningApp, tmp_path: Path) -> None:
    client = Client(forced_app.url, verbose=False)
    assert "ZeroGPU mode: models loaded at start-up" in forced_app.log.read_text()
    reply, calls = _after(forced_app, lambda: client.predict(QUESTION, api_name="/chat"))
    assert ANSWER in reply and calls in ONE_GENERATION

    doc = tmp_path / "zorblat.md"
    doc.write_text(docfiles.ZORBLAT_MD)
    client.predict([handle_file(str(doc))], api_name="/ingest")
    (answer, _), calls = _after(forced_app, lambda: client.predict("Who founded Zorblat Station?", api_name="/ask"))
    assert "Maria Quell" in answer and calls in ONE_GENERATION

    text = "The council approved the budget on Monday. It raises school spending. Critics want a housing plan."
    summary, calls = _after(forced_app, lambda: client.predict(text, "abstractive", 1, api_name="/summarize"))
    assert summary.strip() and calls and all(task == "generate_task" for task, _ in calls)

    result, calls = _after(forced_app, lambda: client.predict(
        "The striker scored a goal and the team won the match.", "sport, business", "zero-shot-chat", api_name="/classify"))
    assert result["label"] == "sport" and calls == [("generate_task", "finished")]

    rows, calls = _after(forced_app, lambda: client.predict("The capital of France is", 5, 1.0, api_name="/next_token"))
    assert rows[0]["token"] == " Paris" and calls == [("next_token_task", "finished")]
    matrix, calls = _after(forced_app, lambda: client.predict("The cat sat.", "gpt", 0, -1, api_name="/attention"))
    assert len(matrix["tokens"]) == len(matrix["matrix"]) and calls == [("attention_task", "finished")]

    openai = OpenAI(base_url=f"{forced_app.url}v1", api_key="unused")
    model = openai.models.list().data[0].id
    completion, calls = _after(forced_app, lambda: openai.chat.completions.create(
        model=model, messages=[{"role": "user", "content": QUESTION}], temperature=0,
        max_tokens=20))
    assert ANSWER in completion.choices[0].message.content and calls in ONE_GENERATION


def test_zerogpu_forced_fine_tuning_returns_the_model_to_the_session(forced_app: RunningApp, tmp_path: Path) -> None:
    rows = [("The striker scored a late winner.", "sport"), ("The team lost the cup final.", "sport"),
            ("Shares fell after the profit warning.", "business"), ("The bank raised interest rates.", "business")]
    csv = tmp_path / "train.csv"
    csv.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows * 4))
    alice = Client(forced_app.url, verbose=False)
    (status, _metrics, _download), calls = _after(
        forced_app, lambda: alice.predict(handle_file(str(csv)), 1, False, api_name="/fine_tune"))
    assert "Done" in status and calls == [("fine_tune_task", "finished")]
    result = alice.predict("The goalkeeper saved a penalty.", "", "fine-tuned", api_name="/classify")
    assert {c["label"] for c in result["confidences"]} == {"sport", "business"}
    assert _tasks(forced_app)[-1] == ("fine_tune_task", "finished"), "predicting with the session's model needs no GPU call"
