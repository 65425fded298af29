"""The n-gram baseline: TF-IDF over words and characters, in English and Chinese."""

from __future__ import annotations

from lmdemo.tasks.ngram import NgramClassifier

ZH = [("这本书写得很好，非常喜欢", "positive"), ("质量很好，物流也快", "positive"), ("内容精彩，推荐购买", "positive"),
      ("很满意，下次还会买", "positive"), ("太差了，完全不值这个价", "negative"), ("质量很差，用了一天就坏了", "negative"),
      ("内容无聊，不推荐", "negative"), ("很失望，再也不买了", "negative")]
EN = [("The striker scored twice", "sport"), ("The team won the final", "sport"), ("A late goal won the cup", "sport"),
      ("The coach praised the defence", "sport"), ("Shares fell sharply", "business"), ("Profits rose this quarter", "business"),
      ("The bank raised rates", "business"), ("Investors sold bonds", "business")]


def test_it_learns_chinese_and_english_and_reports_held_out_metrics() -> None:
    for rows, probes in [(ZH, [("质量很好，推荐", "positive"), ("太差了，很失望", "negative")]),
                         (EN, [("The team scored a goal", "sport"), ("Shares and bonds fell", "business")])]:
        texts, labels = [t for t, _ in rows * 3], [lab for _, lab in rows * 3]
        model = NgramClassifier.train(texts, labels)
        assert [p.label for p in model.predict([t for t, _ in probes])] == [lab for _, lab in probes]
        assert model.metrics["support"] >= 2 and set(model.metrics["classes"]) == set(labels)
        scores = model.predict([probes[0][0]])[0].scores
        assert abs(sum(scores.values()) - 1.0) < 1e-6
