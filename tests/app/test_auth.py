"""`--auth USER:PASSWORD` guards the page, the Gradio API and the /v1 routes."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AuthenticationError as GradioAuthenticationError
from openai import AuthenticationError, OpenAI

from tests.conftest import RunningApp


@pytest.fixture(scope="module")
def locked_app() -> Iterator[RunningApp]:
    with RunningApp(["--auth", "ada:lovelace"]) as app:
        yield app


def test_the_page_and_the_api_need_the_login(locked_app: RunningApp) -> None:
    assert "login" in httpx.get(locked_app.url).text.lower()
    with pytest.raises(GradioAuthenticationError, match="credentials were not provided"):
        Client(locked_app.url, verbose=False).predict("hello", api_name="/tokenize")
    assert httpx.post(f"{locked_app.url}login", data={"username": "ada", "password": "wrong"}).status_code == 400
    client = Client(locked_app.url, auth=("ada", "lovelace"), verbose=False)
    assert client.predict("hello", api_name="/tokenize")["gpt"]


def test_the_openai_routes_need_the_key(locked_app: RunningApp) -> None:
    with pytest.raises(AuthenticationError, match="Bearer USER:PASSWORD"):
        OpenAI(base_url=f"{locked_app.url}v1", api_key="nope").models.list()
    refused = httpx.get(f"{locked_app.url}v1/models", timeout=30)
    assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"
    models = OpenAI(base_url=f"{locked_app.url}v1", api_key="ada:lovelace").models.list()
    assert models.data[0].id == "SmolLM2-135M-Instruct.Q4_1"
