"""/ingest and /ask through gradio_client: one index per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from tests import docfiles
from tests.conftest import RunningApp


@pytest.fixture
def zorblat(tmp_path: Path) -> Path:
    path = tmp_path / "zorblat.md"
    path.write_text(docfiles.ZORBLAT_MD)
    return path


def _sources(value) -> list[dict]:
    return json.loads(value) if isinstance(value, str) else value


def test_ingest_then_ask_in_one_session(running_app: RunningApp, zorblat: Path, tmp_path: Path) -> None:
    client = Client(running_app.url, verbose=False)
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    summary = client.predict([handle_file(str(zorblat)), handle_file(str(broken))], api_name="/ingest")
    assert "zorblat.md: 1 passage" in summary
    assert "broken.pdf" in summary and "damaged" in summary
    answer, sources = client.predict("Who founded Zorblat Station?", api_name="/ask")
    assert "Maria Quell" in answer
    sources = _sources(sources)
    assert sources[0]["source"] == "zorblat.md" and "text" in sources[0] and "score" in sources[0]


def test_ask_takes_an_answer_mode(running_app: RunningApp, zorblat: Path) -> None:
    client = Client(running_app.url, verbose=False)
    client.predict([handle_file(str(zorblat))], api_name="/ingest")
    quoted, sources = client.predict("Who founded Zorblat Station?", mode="quote", api_name="/ask")
    assert "Zorblat Station was founded in 1987 by the engineer Maria Quell on the shore of Lake Ombra. [1]" in quoted
    assert "quoted from the passages" in quoted and _sources(sources)[0]["source"] == "zorblat.md"
    generated, _ = client.predict("Who founded Zorblat Station?", mode="generate", api_name="/ask")
    assert "Maria Quell" in generated and "generated" in generated and "quoted" not in generated
    with pytest.raises(Exception, match="'guess'.* not in the list of choices"):
        client.predict("Who founded Zorblat Station?", mode="guess", api_name="/ask")


def test_sessions_do_not_see_each_others_documents(running_app: RunningApp, zorblat: Path) -> None:
    alice = Client(running_app.url, verbose=False)
    bob = Client(running_app.url, verbose=False)
    alice.predict([handle_file(str(zorblat))], api_name="/ingest")
    with pytest.raises(Exception, match="Upload and index some documents first"):
        bob.predict("Who founded Zorblat Station?", api_name="/ask")
    answer, _ = alice.predict("Who founded Zorblat Station?", api_name="/ask")
    assert "Maria Quell" in answer
