"""/classify and /summarize through gradio_client against the running app."""

from __future__ import annotations

import re

import pytest
from gradio_client import Client, handle_file

from tests.conftest import RunningApp

ARTICLE = (
    "The city council approved a new budget on Monday. The budget raises spending on schools by ten percent. "
    "It also funds two new bus lines in the north of the city. Critics said the plan ignores rising rents. "
    "The mayor promised a housing review next year. Council members voted eleven to four in favour."
)


@pytest.fixture(scope="module")
def client(running_app: RunningApp) -> Client:
    return Client(running_app.url, verbose=False)


def test_zero_shot_classify_returns_label_scores(client: Client) -> None:
    result = client.predict(
        "The striker scored a hat-trick and the team won the cup final.", "sport, business, politics",
        "zero-shot", api_name="/classify",
    )
    assert result["label"] == "sport"
    confidences = {c["label"]: c["confidence"] for c in result["confidences"]}
    assert set(confidences) == {"sport", "business", "politics"}
    assert abs(sum(confidences.values()) - 1.0) < 1e-3


def test_classify_without_a_trained_model_explains_what_to_do(client: Client) -> None:
    with pytest.raises(Exception, match="Fine-tune a model"):
        client.predict("hello there", "a, b", "fine-tuned", api_name="/classify")


def test_extractive_summary_picks_sentences_from_the_text(client: Client) -> None:
    summary = client.predict(ARTICLE, "extractive", 2, api_name="/summarize")
    sentences = [s if s.endswith(".") else s + "." for s in ARTICLE.split(". ")]
    picked = [s for s in sentences if s in summary]
    assert len(picked) == 2 and summary == " ".join(picked), "two of the sentences, in their order, nothing else"


def test_abstractive_summary_is_written_by_the_chat_model(client: Client) -> None:
    summary = client.predict(ARTICLE, "abstractive", 2, api_name="/summarize")
    assert len(summary.split()) >= 5 and summary.strip() != ARTICLE.strip() and ARTICLE not in summary
    assert any(word in summary.lower() for word in ("budget", "council", "schools"))


def test_a_fine_tuned_classifier_stays_in_its_session(running_app: RunningApp, tmp_path) -> None:
    rows = [("The striker scored a late winner.", "sport"), ("The team lost the cup final.", "sport"),
            ("The goalkeeper saved two penalties.", "sport"), ("The coach praised his defenders.", "sport"),
            ("Shares fell after the profit warning.", "business"), ("The bank raised interest rates.", "business"),
            ("Investors sold bonds as inflation rose.", "business"), ("The firm reported record revenue.", "business")]
    csv = tmp_path / "train.csv"
    csv.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows * 4))
    alice = Client(running_app.url, verbose=False)
    bob = Client(running_app.url, verbose=False)
    status, _metrics, _download = alice.predict(handle_file(str(csv)), 6, False, "topic", api_name="/fine_tune")
    assert "Done" in status
    assert re.search(r"GPT's reading \(a head on the chat model's states, now the \*\*few-shot\*\* classifier\): "
                     r"[01]\.\d{3}", status), status
    for text, label in [("The goalkeeper saved a penalty in the final.", "sport"),
                        ("The bank reported lower profits and its shares fell.", "business")]:
        assert alice.predict(text, "", "few-shot", api_name="/classify")["label"] == label, "the chat model's head"
    for text, label in [("The goalkeeper saved a penalty in the final.", "sport"),
                        ("The bank reported lower profits and its shares fell.", "business")]:
        result = alice.predict(text, "", "fine-tuned", api_name="/classify")
        assert result["label"] == label, f"the trained model, not an untrained head: {result}"
    assert "BERT vs n-grams" in status and "n-gram baseline" in status
    assert alice.predict("The striker scored a late winner in the final.", "", "ngram",
                         api_name="/classify")["label"] == "sport"
    with pytest.raises(Exception, match="Train the few-shot head first"):
        bob.predict("The goalkeeper saved a penalty.", "", "few-shot", api_name="/classify")
    with pytest.raises(Exception, match="Fine-tune a model"):
        bob.predict("The goalkeeper saved a penalty.", "", "fine-tuned", api_name="/classify")
    with pytest.raises(Exception, match="the n-gram baseline is trained on it too"):
        bob.predict("The goalkeeper saved a penalty.", "", "ngram", api_name="/classify")


def test_prompts_are_not_logged(running_app: RunningApp) -> None:
    client = Client(running_app.url, verbose=False)
    client.predict("Say the word xylophonically-unique-4242.", max_new_tokens=8, api_name="/chat")
    log = running_app.log.read_text()
    assert '"endpoint": "/chat"' in log
    assert "xylophonically-unique-4242" not in log


def test_a_chinese_csv_in_a_chinese_page_says_why_neither_the_chat_model_nor_the_encoder_read_it(
        running_app: RunningApp, tmp_path) -> None:
    rows = [("质量很好，非常满意，还会再买。", "好评"), ("物流很快，包装完好，推荐购买。", "好评"),
            ("太差了，用了两天就坏了。", "差评"), ("客服态度恶劣，再也不买了。", "差评")]
    csv = tmp_path / "评论.csv"
    csv.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows * 4), encoding="utf-8")
    chinese = Client(running_app.url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    status, _metrics, _download = chinese.predict(handle_file(str(csv)), 1, False, "情感", api_name="/fine_tune")
    assert "；聊天模型没有读这些行：编码器 " in status and "选择 **n-gram 基线** 再分类。未微调：编码器 " in status, status
    assert "。。" not in status and "; " not in status, status
    assert chinese.predict("质量很好，很满意。", "", "ngram", api_name="/classify")["label"] == "好评"


def test_a_csv_labelled_positive_and_negative_is_read_by_the_chat_model_untold(running_app: RunningApp,
                                                                               tmp_path) -> None:
    rows = [("A moving, beautifully acted film.", "positive"), ("Funny, warm and wise from start to finish.", "positive"),
            ("One of the best films of the year.", "positive"), ("The cast is wonderful and the script sparkles.",
                                                                 "positive"),
            ("A delightful surprise that I loved.", "positive"), ("Smart, tender and gorgeous to look at.", "positive"),
            ("A dull, lifeless mess.", "negative"), ("Tedious, badly written and far too long.", "negative"),
            ("The worst film I have seen in years.", "negative"),
            ("The jokes fall flat and the plot makes no sense.", "negative"),
            ("A boring waste of a talented cast.", "negative"), ("Clumsy, cheap and instantly forgettable.", "negative")]
    csv = tmp_path / "reviews.csv"
    csv.write_text("text,label\n" + "".join(f'"{t}",{label}\n' for t, label in rows * 2))
    client = Client(running_app.url, verbose=False)
    status, _metrics, _download = client.predict(handle_file(str(csv)), 1, False, "", api_name="/fine_tune")
    assert "GPT's reading" in status, f"nothing typed, the sentiment labels had the chat model read the rows: {status}"
    assert "(the labels are sentiment words, so it read each row's “sentiment”)" in status, status
    for text, label in [("A triumph: gripping, heartfelt and superbly made.", "positive"),
                        ("An awful, boring film with terrible acting.", "negative")]:
        assert client.predict(text, "", "few-shot", api_name="/classify")["label"] == label
