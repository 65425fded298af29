"""The running app (`python app.py` in a subprocess) driven through gradio_client."""

from __future__ import annotations

import time

import pytest
from gradio_client import Client

from tests.conftest import RunningApp
from tests.questions import ANSWER, QUESTION


@pytest.fixture(scope="module")
def client(running_app: RunningApp) -> Client:
    return Client(running_app.url, verbose=False)


def test_chat_endpoint_answers_with_defaults(client: Client) -> None:
    """The offline profile decodes greedily by default: the 135M model answers facts reliably only so."""
    assert ANSWER in client.predict(QUESTION, api_name="/chat")


def test_chat_endpoint_takes_sampling_settings_and_history(client: Client) -> None:
    history = [
        {"role": "user", "content": "My name is Zorblat. Remember it."},
        {"role": "assistant", "content": "Nice to meet you, Zorblat! I will remember your name."},
    ]
    reply = client.predict(
        "What is my name?", temperature=0.0, repetition_penalty=1.0, max_new_tokens=20, history=history,
        api_name="/chat",
    )
    assert "Zorblat" in reply


def test_chat_endpoint_streams(client: Client) -> None:
    job = client.submit("Write a short poem about the sea.", temperature=0.0, max_new_tokens=60, api_name="/chat")
    job.result(timeout=120)
    partials = job.outputs()
    assert len(partials) > 3
    assert all(later.startswith(earlier) for earlier, later in zip(partials, partials[1:]))


def test_empty_message_gets_a_clear_error(client: Client) -> None:
    with pytest.raises(Exception, match="Type a message first"):
        client.predict("   ", api_name="/chat")


def test_cancelled_generation_ends_on_the_server(running_app: RunningApp) -> None:
    """Stop (a cancelled job) ends the request on the server: its log line says so within seconds."""
    client = Client(running_app.url, verbose=False)
    job = client.submit(
        "Write a very long story about a dragon.", temperature=0.0, max_new_tokens=2048, api_name="/chat"
    )
    deadline = time.monotonic() + 60
    while len(job.outputs()) < 3 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(job.outputs()) >= 3, "the long generation should be streaming"
    before = running_app.log.read_text().count('"error": "cancelled"')
    job.cancel()
    deadline = time.monotonic() + 10
    while running_app.log.read_text().count('"error": "cancelled"') == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert running_app.log.read_text().count('"error": "cancelled"') > before
    reply = client.predict(QUESTION, temperature=0.0, max_new_tokens=16, api_name="/chat")
    assert ANSWER in reply
