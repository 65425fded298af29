"""One JSON line per request; prompt text only when --log-prompts asked for it."""

from __future__ import annotations

import json
import logging

import pytest

from lmdemo import logs


def _lines(caplog: pytest.LogCaptureFixture) -> list[dict]:
    return [json.loads(r.getMessage()) for r in caplog.records if r.name == "lmdemo.requests"]


def test_a_request_line_has_its_fields_and_no_prompt_by_default(caplog: pytest.LogCaptureFixture) -> None:
    logs.configure_logging(log_prompts=False)
    caplog.set_level(logging.INFO, logger="lmdemo.requests")
    with logs.request_log("/chat", "abcdef123456", prompt="secret words") as record:
        record["completion_tokens"] = 7
    with pytest.raises(ValueError, match="bad"):
        with logs.request_log("/ask", "zz", prompt="more secrets"):
            raise ValueError("bad")
    first, second = _lines(caplog)
    assert first["endpoint"] == "/chat" and first["session"] == "abcdef12" and first["completion_tokens"] == 7
    assert "seconds" in first and "prompt" not in first
    assert second["error"] == "ValueError: bad"
    assert "secret" not in caplog.text


def test_log_prompts_puts_the_prompt_in(caplog: pytest.LogCaptureFixture) -> None:
    logs.configure_logging(log_prompts=True)
    try:
        caplog.set_level(logging.INFO, logger="lmdemo.requests")
        with logs.request_log("/chat", "s", prompt="hello there"):
            pass
        assert _lines(caplog)[0]["prompt"] == "hello there"
    finally:
        logs.configure_logging(log_prompts=False)
