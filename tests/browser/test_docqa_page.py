"""Upload a file in the browser, ask about it, see a cited answer with highlighted sources."""

from __future__ import annotations

from pathlib import Path

from tests import docfiles
from tests.conftest import ROOT, RunningApp

SHOTS = ROOT / ".pytest_cache" / "screenshots"


def test_upload_ask_and_see_cited_sources(page, running_app: RunningApp, tmp_path: Path) -> None:
    doc = tmp_path / "zorblat.md"
    doc.write_text(docfiles.ZORBLAT_MD)
    page.goto(running_app.url)
    page.get_by_role("tab", name="Document QA").click()
    page.locator("input[type=file]").first.set_input_files(str(doc))
    page.get_by_role("button", name="Index documents").click()
    page.get_by_text("zorblat.md: 1 passage").first.wait_for(timeout=60000)
    page.locator("#docqa-documents").get_by_text("keyword and semantic search ready").wait_for(timeout=30000)
    page.get_by_label("Question").fill("Who founded Zorblat Station?")
    page.get_by_role("button", name="Ask", exact=True).click()
    page.locator("#docqa-sources .lm-source").first.wait_for(timeout=90000)
    answer = page.locator("#docqa-answer").inner_text()
    assert "Maria Quell" in answer and "[1]" in answer
    assert "generated" in answer or "quoted from the passages" in answer, "the answer says how it was made"
    source = page.locator("#docqa-sources .lm-source").first
    assert "zorblat.md" in source.inner_text()
    marked = source.locator("mark").all_inner_texts()
    assert "Zorblat" in marked and "Quell" in marked
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "docqa.png"), full_page=True)
