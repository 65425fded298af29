"""A person in a real browser: open the page, chat, watch the reply stream, stop it."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.conftest import ROOT, RunningApp

SHOTS = ROOT / ".pytest_cache" / "screenshots"
LAST_REPLY_LENGTH = "([...document.querySelectorAll('#chatbot .bot')].pop()?.innerText.length ?? 0)"


def _bot_text(page) -> str:
    bots = page.locator("#chatbot .bot")
    return bots.last.inner_text() if bots.count() else ""


def _send(page, text: str) -> None:
    box = page.get_by_placeholder("Type a message and press Enter")
    box.fill(text)
    box.press("Enter")


def test_send_a_message_and_see_the_reply_stream_in(page, running_app: RunningApp) -> None:
    page.goto(running_app.url)
    page.get_by_role("tab", name="Chat").wait_for()
    page.get_by_text("System prompt and sampling").click()
    greedy = page.get_by_role("spinbutton", name="Temperature (0 = greedy)")
    greedy.fill("0")
    greedy.press("Enter")
    question = "Write about 100 words on Paris, the capital of France."  # long enough to be seen streaming
    _send(page, question)
    page.locator("#chatbot").get_by_text(question).wait_for()

    seen: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        done = page.locator("#chatbot .lm-status").count() > 0
        text = _bot_text(page)  # read after the check, so the finished reply is the last one seen
        if text and text != "Loading content" and (not seen or text != seen[-1]):  # Gradio's pending placeholder
            seen.append(text)
        if done:
            break
        time.sleep(0.05)
    status = page.locator("#chatbot .lm-status").last
    assert status.is_visible(), "the reply should end with its status line"
    assert "tok/s" in status.inner_text() and "SmolLM2" in status.inner_text()
    assert len(seen) >= 2, f"the reply should appear piece by piece, saw {seen}"
    assert len(seen[-1]) > len(seen[0])
    assert "Paris" in seen[-1], f"a sensible reply: {seen[-1]!r}"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "chat.png"))


def test_stop_button_ends_a_long_reply(page, running_app: RunningApp) -> None:
    page.goto(running_app.url)
    page.get_by_role("tab", name="Chat").wait_for()
    _send(page, "Write a very long story about a dragon, with many chapters.")
    page.wait_for_function(f"() => {LAST_REPLY_LENGTH} >= 20", timeout=60000)
    page.locator("button.stop-button").click()
    page.locator("button.stop-button").wait_for(state="hidden", timeout=30000)  # the app says generation ended
    frozen = _bot_text(page)
    with pytest.raises(PlaywrightTimeoutError):
        page.wait_for_function(f"() => {LAST_REPLY_LENGTH} > {len(frozen)}", timeout=3000)
    assert _bot_text(page) == frozen, "the reply kept growing after Stop"
    assert not page.locator("#chatbot .lm-status").count()


def test_models_tab_reports_the_loaded_model(page, running_app: RunningApp) -> None:
    page.goto(running_app.url)
    page.get_by_role("tab", name="Models").click()
    row = page.get_by_role("row", name=re.compile(r"^chat SmolLM2-135M-Instruct\.Q4_1"))
    row.wait_for(timeout=30000)
    text = row.inner_text()
    assert "cpu" in text and "llama.cpp" in text and "Q4_K - Medium (GGUF)" in text, "served from the faster copy"
    assert "re-quantized from Q4_1 to Q4_K_M" in text, "the tab says which file was re-quantized"
