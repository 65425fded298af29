"""Playground in the browser: few-shot head, fine-tuning on a CSV with its report, summarising."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT, RunningApp

SHOTS = ROOT / ".pytest_cache" / "screenshots"
ROWS = [
    ("The striker scored twice in the final.", "sport"), ("The coach praised the defence.", "sport"),
    ("The goalkeeper saved a late penalty.", "sport"), ("The team won the league title.", "sport"),
    ("Shares fell after the bank reported losses.", "business"), ("Profits doubled this quarter.", "business"),
    ("The company raised its prices.", "business"), ("Investors sold bonds as rates rose.", "business"),
]


def _open_playground(page, running_app: RunningApp) -> None:
    page.goto(running_app.url)
    page.get_by_role("tab", name="Playground").click()


def test_few_shot_then_fine_tune_then_classify(page, running_app: RunningApp, tmp_path: Path) -> None:
    _open_playground(page, running_app)
    page.get_by_text("Few-shot: a few examples per label").click()
    page.get_by_role("button", name="Train few-shot", exact=True).click()
    page.get_by_text("Head trained on frozen embeddings, from 4 examples").wait_for(timeout=60000)

    csv = tmp_path / "train.csv"
    csv.write_text("text,label\n" + "".join(f'"{t}",{lab}\n' for t, lab in ROWS * 3))
    page.get_by_text("Fine-tune on your CSV (text,label)").click()
    page.locator("input[type=file][accept='.csv']").set_input_files(str(csv))
    page.get_by_text("train.csv").first.wait_for(timeout=60000)
    page.get_by_label("The labels describe the text's … (optional: the chat model reads the rows too)").fill("topic")
    page.get_by_role("button", name="Fine-tune", exact=True).click()
    page.get_by_text("Held-out accuracy").wait_for(timeout=120000)
    assert "GPT's reading (a head on the chat model's states, now the few-shot classifier)" in page.inner_text("body")
    assert page.locator("table.lm-confusion tr").count() == 3
    page.get_by_text("Download the model (.zip)").wait_for(state="visible", timeout=10000)

    page.get_by_label("fine-tuned").check()
    page.get_by_label("Text to classify").fill("The winger scored in the derby.")
    page.get_by_role("button", name="Classify", exact=True).click()
    scores = page.locator("#classify-scores")
    scores.locator(".output-class").get_by_text("sport", exact=True).wait_for(timeout=60000)  # the predicted label
    page.get_by_label("few-shot", exact=True).check()  # now the head on the chat model's reading of the CSV
    page.get_by_label("Text to classify").fill("Shares in the bank fell after its profits dropped.")
    page.get_by_role("button", name="Classify", exact=True).click()
    scores.locator(".output-class").get_by_text("business", exact=True).wait_for(timeout=60000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "playground.png"), full_page=True)


def test_few_shot_told_the_labels_describe_the_topic_reads_with_the_chat_model(page, running_app: RunningApp) -> None:
    _open_playground(page, running_app)
    page.get_by_text("Few-shot: a few examples per label").click()
    page.get_by_label("The labels describe the text's …").fill("topic")
    page.get_by_role("button", name="Train few-shot", exact=True).click()
    page.get_by_text("how the chat model reads “The topic of this text is …”", exact=False).wait_for(timeout=60000)
    page.get_by_label("few-shot", exact=True).check()
    page.get_by_label("Text to classify").fill("The goalkeeper saved a penalty in the final minute.")
    page.get_by_role("button", name="Classify", exact=True).click()
    page.locator("#classify-scores .output-class").get_by_text("sport", exact=True).wait_for(timeout=60000)


def test_summarize_in_the_browser(page, running_app: RunningApp) -> None:
    _open_playground(page, running_app)
    page.get_by_role("tab", name="Summarize").click()
    page.get_by_label("Text", exact=True).fill(
        "The festival opened on Friday. Forty bands played over three days. "
        "Tickets sold out in an hour. Organisers plan a bigger event next year."
    )
    page.get_by_role("button", name="Summarize", exact=True).click()
    output = page.locator("#summary-output")
    output.get_by_text("festival", exact=False).first.wait_for(timeout=60000)
    sentences = ["The festival opened on Friday.", "Forty bands played over three days.",
                 "Tickets sold out in an hour.", "Organisers plan a bigger event next year."]
    shown = output.inner_text()
    assert 0 < sum(sentence in shown for sentence in sentences) < 4, f"some sentences, not the whole text: {shown!r}"
