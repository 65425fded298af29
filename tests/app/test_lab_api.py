"""/tokenize, /next_token and /attention through gradio_client."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import Client

from tests.conftest import RunningApp


@pytest.fixture(scope="module")
def client(running_app: RunningApp) -> Client:
    return Client(running_app.url, verbose=False)


def test_tokenize_endpoint(client: Client) -> None:
    result = client.predict("Hello world", api_name="/tokenize")
    assert [t["token"] for t in result["bert"]] == ["[CLS]", "hello", "world", "[SEP]"]
    assert result["gpt"] and all(isinstance(t["id"], int) for t in result["gpt"])


def test_next_token_endpoint(client: Client) -> None:
    rows = client.predict("The capital of France is", 5, 1.0, api_name="/next_token")
    assert len(rows) == 5 and " Paris" in [r["token"] for r in rows]
    greedy = client.predict("The capital of France is", 5, 0.0, api_name="/next_token")
    assert greedy[0]["probability"] == 1.0


def test_attention_endpoint(client: Client) -> None:
    result = client.predict("The cat sat.", "gpt", 2, 0, api_name="/attention")
    matrix = np.array(result["matrix"])
    assert matrix.shape == (len(result["tokens"]),) * 2
    assert np.allclose(matrix.sum(axis=1), 1.0, atol=1e-4) and np.allclose(np.triu(matrix, 1), 0)
    with pytest.raises(Exception, match="layer must be between"):
        client.predict("The cat sat.", "gpt", 99, 0, api_name="/attention")


def test_a_chinese_client_is_told_what_to_fix_in_chinese(running_app: RunningApp) -> None:
    chinese = Client(running_app.url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    with pytest.raises(Exception, match="请先输入一些文字。"):
        chinese.predict("", 5, 1.0, api_name="/next_token")
    with pytest.raises(Exception, match="Type some text first."):
        Client(running_app.url, verbose=False).predict("", 5, 1.0, api_name="/next_token")
