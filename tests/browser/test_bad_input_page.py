"""Bad input in a real browser: the page says what went wrong and keeps working."""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import RunningApp
from tests.questions import ANSWER, QUESTION


def test_bad_files_are_listed_with_their_reason(page, running_app: RunningApp, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(b"%PDF-1.4 not really")
    page.goto(running_app.url)
    page.get_by_role("tab", name="Document QA").click()
    page.locator("input[type=file]").first.set_input_files([str(empty), str(broken)])
    page.get_by_role("button", name="Index documents").click()
    status = page.get_by_label("Indexing")
    page.wait_for_function(
        "el => el.value.includes('broken.pdf')", arg=status.element_handle(), timeout=60000
    )
    text = status.input_value()
    assert "empty.pdf: the file is empty" in text and "broken.pdf: the PDF is damaged" in text


def test_a_huge_prompt_shows_an_error_and_the_chat_still_works(page, running_app: RunningApp) -> None:
    page.goto(running_app.url)
    box = page.get_by_placeholder("Type a message and press Enter")
    box.fill("spam " * 200_000)  # a pasted megabyte: the box keeps what the server could ever accept
    assert len(box.input_value()) <= 4096 * 16
    box.press("Enter")
    error = page.locator("#chatbot .lm-error")
    error.first.wait_for(timeout=30000)
    assert re.search(r"the message is [\d,]+ characters; the limit is [\d,]+ tokens", error.first.inner_text())
    box = page.locator("textarea").first  # the placeholder is gone once the chat has a message
    box.fill(QUESTION)
    box.press("Enter")
    page.locator("#chatbot .lm-status").first.wait_for(timeout=90000)  # the textbox still works
    assert ANSWER in page.locator("#chatbot .bot").last.inner_text()
