"""Playground quality and speed on ../shared/eval, through the app's own services.

    python bench/tasks.py [--abstractive-docs 10] [--skip-finetune] [--datasets movie-snippets] [--skip-summarization]

Classification (bbc-news, movie-snippets; zh-reviews with --datasets): zero-shot, few-shot (16 per label) and fine-tuned
accuracy and macro-F1 with training and prediction time, fine-tuning with the old recipe and the new, and the n-gram TF-IDF baseline. Summarization (aclsum-dev): ROUGE-1/2/L
F1 of extractive and abstractive summaries against lead-3, and seconds per document. The
abstractive rows use the first N documents (the 135M model on 2 cores takes ~30 s each); the
lead-3 and extractive rows are reported on the same N as well as on all 150.
"""

from __future__ import annotations

import argparse
import json
import time

from common import ROOT, write

EVAL = ROOT.parent / "shared" / "eval"
# What the labels describe, as a user would type it in the Playground's few-shot box
ASPECTS = {"bbc-news": "topic", "movie-snippets": "sentiment", "zh-reviews": "sentiment"}


def classification_rows(services, dataset: str, finetune: bool) -> list[dict]:
    from lmdemo.tasks.classify import evaluate, parse_labels
    from lmdemo.tasks.dataset import read_csv
    from lmdemo.tasks.service import sample_shots

    train = read_csv(EVAL / "classification" / dataset / "train.csv")
    test = read_csv(EVAL / "classification" / dataset / "test.csv")
    classes = test.classes
    rows = []

    def row(mode: str, predictions, train_s: float, predict_s: float) -> dict:
        metrics = evaluate(test.labels, [p.label for p in predictions], classes)
        return {
            "dataset": dataset, "mode": mode, "accuracy": metrics["accuracy"], "macro_f1": metrics["macro_f1"],
            "train_s": round(train_s, 1), "predict_s": round(predict_s, 1), "test_rows": len(test.texts),
        }

    def measure(mode: str, train, predict) -> None:
        """A row for `mode`; a refusal (the encoder cannot read the text) is a row too, saying why."""
        from lmdemo.errors import UserError

        started = time.perf_counter()
        try:
            model = train()
            trained = time.perf_counter()
            predictions = predict(model)
        except UserError as refused:
            rows.append({"dataset": dataset, "mode": mode, "accuracy": None, "macro_f1": None,
                         "train_s": None, "predict_s": None, "test_rows": len(test.texts),
                         "note": f"refused: {str(refused)[:90]}…"})
            return
        rows.append(row(mode if "{}" not in mode else mode.format(type(model).__name__), predictions,
                        trained - started, time.perf_counter() - trained))

    from lmdemo.tasks.classify import FewShotClassifier

    classify = services.classify
    shots = sample_shots(train, 16)
    measure("zero-shot", lambda: None, lambda _: classify.zero_shot(test.texts, parse_labels(classes)))
    measure("few-shot head (16/label)", lambda: FewShotClassifier.train(services.embedder.embed, shots.texts,
                                                                        shots.labels),
            lambda head: classify.few_shot(head, test.texts))
    # What the Playground trains untold: the chat model's reading when the labels are sentiment words
    # (guess_aspect), else SetFit when every label has 16 examples; n-grams when the encoder cannot read them
    measure("few-shot {} (16/label, nothing typed)", lambda: classify.train_few_shot(shots),
            lambda m: classify.few_shot(m, test.texts))
    if (classify.aspect_of(shots)[1] and services.models.reads_states()
            and not services.embedder.coverage(shots.texts).poor):  # the row above read the labels' sentiment: SetFit too
        from lmdemo.tasks.setfit_few_shot import train_setfit

        measure("few-shot SetFit (16/label)", lambda: train_setfit(services.models.encoder().model, shots.texts,
                                                                    shots.labels),
                lambda m: classify.few_shot(m, test.texts))
    aspect = ASPECTS.get(dataset, "") if services.models.reads_states() else ""
    if aspect:
        measure(f"few-shot {{}} (16/label, labels describe the {aspect})",
                lambda: classify.train_few_shot(shots, aspect=aspect), lambda m: classify.few_shot(m, test.texts))
    for name, data in (("n-gram TF-IDF (16/label)", shots), ("n-gram TF-IDF (all train rows)", train)):
        measure(name, lambda data=data: classify.train_ngram(data), lambda m: m.predict(test.texts))
    if finetune:
        from lmdemo.tasks.classify import TrainConfig

        from lmdemo.runtime import encoder_in_bf16

        recipe = "fine-tuned (length from the data up to 128, best of up to 3 epochs, early stopping"
        recipes = [("fine-tuned, old recipe (2 epochs, 128 tokens, last epoch, fp32)",
                    TrainConfig(epochs=2, max_length=128, patience=0, precision="float32"))]
        if encoder_in_bf16(services.settings.encoder_dtype):  # the same recipe both ways, to show what bf16 costs
            recipes += [(f"{recipe}, fp32)", TrainConfig(precision="float32")), (f"{recipe}, bf16)", TrainConfig())]
        else:
            recipes += [(f"{recipe}, fp32)", TrainConfig())]
        for name, config in recipes:
            measure(name, lambda config=config: classify.fine_tune(train, config),
                    lambda m: classify.fine_tuned(m, test.texts))
        if aspect:  # the Playground's CSV accordion told what the labels describe
            measure(f"{{}} on the CSV, as the Playground trains it (labels describe the {aspect})",
                    lambda: list(classify.chat_reading_stream(train, aspect))[-1].model,
                    lambda m: classify.few_shot(m, test.texts))
    for r in rows:
        print(json.dumps(r), flush=True)
    return rows


def lead(text: str, n: int = 3) -> str:
    from lmdemo.tasks.summarize import sentences

    return " ".join(sentences(text)[:n])


def rouge_row(method: str, docs: list[dict], summaries: list[str], seconds: float) -> dict:
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeL": 0.0}
    for doc, summary in zip(docs, summaries):
        for key, value in scorer.score(doc["reference"], summary).items():
            totals[key] += value.fmeasure
    n = len(docs)
    return {
        "method": method, "docs": n, "ROUGE-1": totals["rouge1"] / n, "ROUGE-2": totals["rouge2"] / n,
        "ROUGE-L": totals["rougeL"] / n, "s_per_doc": round(seconds / n, 3),
    }


def summarization_rows(services, abstractive_docs: int) -> list[dict]:
    docs = [json.loads(line) for line in (EVAL / "summarization" / "aclsum-dev.jsonl").open()]
    rows = []

    def timed(method: str, subset: list[dict], make) -> dict:
        started = time.perf_counter()
        summaries = [make(d["source"]) for d in subset]
        result = rouge_row(method, subset, summaries, time.perf_counter() - started)
        print(json.dumps(result), flush=True)
        return result

    def final(mode: str):
        return lambda text: services.summarize.summary(text, mode, 3)

    rows.append(timed("lead-3", docs, lead))
    rows.append(timed("extractive (3 sentences)", docs, final("extractive")))
    subset = docs[:abstractive_docs]
    if subset:
        rows.append(timed("lead-3", subset, lead))
        rows.append(timed("extractive (3 sentences)", subset, final("extractive")))
        rows.append(timed("abstractive (map-reduce)", subset, final("abstractive")))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--abstractive-docs", type=int, default=10)
    parser.add_argument("--skip-finetune", action="store_true")
    parser.add_argument("--skip-classification", action="store_true")
    parser.add_argument("--datasets", default="bbc-news,movie-snippets", help="classification datasets")
    parser.add_argument("--skip-summarization", action="store_true")
    args = parser.parse_args()

    from lmdemo.logs import configure_logging
    from lmdemo.services import build_services
    from lmdemo.settings import load_settings

    configure_logging()
    services = build_services(load_settings([], env={"LMDEMO_PROFILE": "offline"}))
    if not args.skip_classification:
        classification = []
        for dataset in args.datasets.split(","):
            classification += classification_rows(services, dataset, not args.skip_finetune)
        write("classification", classification)
    if not args.skip_summarization:
        write("summarization", summarization_rows(services, args.abstractive_docs))


if __name__ == "__main__":
    main()
