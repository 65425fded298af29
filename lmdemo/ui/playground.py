"""Playground tab: classify text (zero-shot, few-shot, fine-tuned on your CSV, which the chat model
can also read for the few-shot head) and summarise it.

Trained heads and models live in this session's gr.State. Endpoints: `/classify`
(text, labels, mode → label scores) and `/summarize` (text, mode, length → summary).
"""

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from lmdemo.docqa.loaders import load_document
from lmdemo.errors import UserError
from lmdemo.tasks.classify import TrainConfig, parse_labels
from lmdemo.tasks.dataset import LabelledTexts, read_csv
from lmdemo.ui.guard import guard
from lmdemo.ui.heatmap import heatmap_html
from lmdemo.ui.i18n import language, say, t, told
from lmdemo.ui.throttle import throttled

if TYPE_CHECKING:
    from lmdemo.services import Services

MODES = ["zero-shot", "zero-shot-chat", "few-shot", "fine-tuned", "ngram"]
EXAMPLE_SHOTS = [
    ["The striker scored twice in the final minutes of the match.", "sport"],
    ["The central bank raised interest rates by half a point.", "business"],
    ["Parliament voted on the new immigration bill on Tuesday.", "politics"],
    ["The new phone has a faster chip and a better camera.", "tech"],
]


def confusion_html(metrics: dict[str, Any], request: gr.Request | None = None) -> str:
    """The held-out confusion matrix as a shaded table, with accuracy and macro-F1."""
    if not metrics:
        return ""
    caption = (
        f"<b>{say(request, 'play.held_out')} {metrics['accuracy']:.3f}</b> · macro-F1 {metrics['macro_f1']:.3f} · "
        f"{metrics['support']} {say(request, 'play.rows')}"
    )
    classes = metrics["classes"]
    return heatmap_html(
        classes, classes, metrics["confusion"], caption,
        css_class="lm-confusion", corner=say(request, "play.confusion_corner"), show_values=True,
    )


def _shots(table: Any) -> LabelledTexts:
    """The examples in the few-shot table, refused unless two labels or more have some."""
    rows = table.values.tolist() if hasattr(table, "values") else list(table or [])
    pairs = [(str(t).strip(), str(lab).strip()) for t, lab, *_ in rows if str(t).strip() and str(lab).strip()]
    if len({lab for _, lab in pairs}) < 2:
        raise UserError("Add examples of at least two labels to the table.", "请在表格里加入至少两个标签的例子。")
    return LabelledTexts([t for t, _ in pairs], [lab for _, lab in pairs])


def build_playground_tab(services: "Services") -> None:
    """Render the Playground tab into the current Blocks context."""
    classify, summarize = services.classify, services.summarize
    few_shot_state = gr.State(None)
    fine_tuned_state = gr.State(None)
    ngram_state = gr.State(None)

    with gr.Tab(t("play.classify")):
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                text = gr.Textbox(label=t("play.text"), lines=4, placeholder=t("play.text_placeholder"))
                labels = gr.Textbox(
                    label=t("play.labels"), value="sport, business, politics, tech, entertainment",
                    info=t("play.labels_info"),
                )
                mode = gr.Radio([(t(f"play.mode.{m}"), m) for m in MODES], value="zero-shot", label=t("play.classifier"))
                classify_btn = gr.Button(t("play.classify"), variant="primary")
                scores = gr.Label(label=t("play.scores"), num_top_classes=10, elem_id="classify-scores")
            with gr.Column(scale=2):
                with gr.Accordion(t("play.few"), open=False):
                    shots = gr.Dataframe(
                        value=EXAMPLE_SHOTS, headers=["text", "label"], column_count=(2, "fixed"),
                        interactive=True, wrap=True,
                    )
                    aspect = gr.Textbox(label=t("play.aspect"), placeholder=t("play.aspect_placeholder"), max_lines=1)
                    gr.Markdown(t("play.few_help"))
                    with gr.Row():
                        train_few_btn = gr.Button(t("play.train_few"))
                        cancel_few_btn = gr.Button(t("play.cancel"))
                    few_status = gr.Markdown()
                with gr.Accordion(t("play.fine_tune_csv"), open=False):
                    csv_file = gr.File(label=t("play.training_csv"), file_types=[".csv"], type="filepath")
                    with gr.Row():
                        epochs = gr.Slider(1, 8, value=TrainConfig().epochs, step=1, label=t("play.epochs"))
                        eight_bit = gr.Checkbox(label=t("play.eight_bit"))
                    csv_aspect = gr.Textbox("", label=t("play.csv_aspect"),
                                            placeholder=t("play.csv_aspect_placeholder"), max_lines=1)
                    with gr.Row():
                        train_btn = gr.Button(t("play.fine_tune"), variant="primary")
                        cancel_btn = gr.Button(t("play.cancel"))
                    train_status = gr.Markdown()
                    metrics_view = gr.HTML()
                    download = gr.DownloadButton(t("play.download"), visible=False)

    with gr.Tab(t("play.summarize")):
        with gr.Row(equal_height=False):
            with gr.Column():
                source = gr.Textbox(label=t("play.source"), lines=10, placeholder=t("play.source_placeholder"))
                upload = gr.File(
                    label=t("play.upload"), file_types=[".pdf", ".docx", ".html", ".md", ".txt"],
                    type="filepath",
                )
                with gr.Row():
                    sum_mode = gr.Radio([(t(f"play.method.{m}"), m) for m in ("extractive", "abstractive")], value="extractive",
                                        label=t("play.method"))
                    length = gr.Slider(1, 10, value=3, step=1, label=t("play.sentences"))
                sum_btn = gr.Button(t("play.summarize"), variant="primary")
            with gr.Column():
                summary = gr.Markdown(elem_id="summary-output")

    def run_classify(
        value: str, label_spec: str, which: str, few: Any, tuned: Any, ngram: Any, request: gr.Request
    ) -> dict[str, float]:
        with guard(services, "/classify", request, value) as record:
            record["mode"] = which
            if which == "zero-shot":
                prediction = classify.zero_shot([value], parse_labels(label_spec))[0]
            elif which == "zero-shot-chat":
                prediction = classify.zero_shot_chat([value], parse_labels(label_spec))[0]
            elif which == "few-shot":
                if few is None:
                    raise UserError(say(request, "play.train_few_first"))
                prediction = classify.few_shot(few, [value])[0]
            elif which == "fine-tuned":
                if tuned is None:
                    raise UserError(say(request, "play.fine_tune_first"))
                prediction = classify.fine_tuned(tuned, [value])[0]
            elif which == "ngram":
                if ngram is None:
                    raise UserError(say(request, "play.ngram_first"))
                prediction = ngram.predict([value])[0]
            else:
                raise UserError(f"mode must be one of {', '.join(MODES)}")
        return prediction.scores

    def train_few(table: Any, described: str, request: gr.Request, progress: gr.Progress = gr.Progress()) -> Iterator:
        """Train the few-shot classifier into this session; streams progress, Cancel stops it."""
        with guard(services, "few_shot", request):
            data = _shots(table)
            update = None
            for update in classify.few_shot_stream(data, described or ""):
                progress(update.fraction, desc=update.message)
                yield gr.skip(), say(request, "play.training", message=update.message)
        counts = ", ".join(f"{k}: {v}" for k, v in data.counts().items())
        outcome = update.said(language(request) == "zh")
        yield update.model, say(request, "play.few_done", message=outcome[:1].upper() + outcome[1:],
                                n=len(data.texts), counts=counts)

    def train(
        path: str | None, n_epochs: float, quantized: bool, described: str, request: gr.Request,
        progress: gr.Progress = gr.Progress(),
    ) -> Iterator:
        """Train on the uploaded CSV (deleted once read): the n-gram baseline, the chat model's
        reading when told what the labels describe, then the fine-tuned encoder; streams progress,
        then the metrics."""
        with guard(services, "/fine_tune", request):
            if not path or not Path(path).is_file():
                raise UserError(say(request, "play.upload_csv"))
            try:
                data = read_csv(Path(path))
            finally:
                Path(path).unlink(missing_ok=True)
            counts = ", ".join(f"{k}: {v}" for k, v in data.counts().items())
            baseline = classify.train_ngram(data)
            against = (say(request, "play.ngram_accuracy", accuracy=f"{baseline.metrics['accuracy']:.3f}")
                       if baseline.metrics else say(request, "play.ngram_trained"))
            yield (say(request, "play.training_rows", n=len(data.texts), counts=counts, against=against), "", gr.skip(),
                   gr.DownloadButton(visible=False), baseline, gr.skip())
            then = "；" if language(request) == "zh" else "; "  # the accuracies so far, then the chat model's
            guessed = False
            try:  # the chat model reads the rows when told what the labels describe, or when their names say it
                aspect, guessed = classify.aspect_of(data, described or "")
                readings = throttled(classify.chat_reading_stream(data, aspect), interval=0.25,
                                     is_last=lambda u: u.model is not None) if aspect else []
                for update in readings:
                    progress(update.fraction, desc=update.message)
                    if update.model is None:
                        yield update.message, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                        continue
                    read = update.model.metrics.get("accuracy")
                    against += then + (say(request, "play.chat_reading", accuracy=f"{read:.3f}")
                                       if read is not None else say(request, "play.chat_reading_trained"))
                    if guessed:
                        against += say(request, "play.aspect_from_labels", aspect=aspect)
                    yield (say(request, "play.training_rows", n=len(data.texts), counts=counts, against=against),
                           gr.skip(), gr.skip(), gr.skip(), gr.skip(), update.model)
            except UserError as refused:  # the fine-tune below still runs; a guess the chat model cannot read goes unsaid
                if not guessed:
                    against += then + say(request, "play.chat_not_read", why=told(request, refused).rstrip("。."))
            quantization = "8bit" if quantized else "none"
            updates = throttled(classify.fine_tune_stream(data, TrainConfig(epochs=int(n_epochs)), quantization),
                                interval=0.25, is_last=lambda u: u.model is not None)
            try:
                for update in updates:
                    progress(update.fraction, desc=update.message)
                    if update.model is None:
                        yield update.message, gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
                        continue
                    archive = Path(tempfile.mkdtemp(prefix="lmdemo-model-")) / "classifier.zip"
                    archive.write_bytes(update.archive)
                    yield (
                        say(request, "play.fine_tuned", accuracy=f"{update.model.metrics['accuracy']:.3f}",
                            against=against),
                        confusion_html(update.model.metrics, request),
                        update.model,
                        gr.DownloadButton(value=str(archive), visible=True),
                        gr.skip(),
                        gr.skip(),
                    )
            except UserError as refused:  # e.g. an encoder that cannot read the CSV: the baseline stays usable
                yield (say(request, "play.not_fine_tuned", against=against, why=told(request, refused)), "",
                       gr.skip(), gr.skip(), gr.skip(), gr.skip())

    def load_text(file: str | None, request: gr.Request) -> str:
        if not file:
            return gr.skip()
        with guard(services, "load_text", request):
            try:
                return "\n\n".join(p.text for p in load_document(Path(file)).pages)
            finally:
                Path(file).unlink(missing_ok=True)

    def run_summarize(
        value: str, which: str, n: float, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> Iterator[str]:
        with guard(services, "/summarize", request, value) as record:
            record["mode"] = which
            yield from throttled(summarize.summarize(value or "", which, int(n), lambda f, m: progress(f, desc=m)))

    def cancelled(request: gr.Request) -> str:
        return say(request, "play.cancelled")

    def cancelled_short(request: gr.Request) -> str:
        return say(request, "play.cancelled_short")

    gr.on([classify_btn.click, text.submit], run_classify,
          [text, labels, mode, few_shot_state, fine_tuned_state, ngram_state], scores, api_name="classify")
    few_event = train_few_btn.click(train_few, [shots, aspect], [few_shot_state, few_status], api_visibility="private")
    cancel_few_btn.click(cancelled, None, few_status, cancels=[few_event],
                         api_visibility="private")
    train_event = train_btn.click(train, [csv_file, epochs, eight_bit, csv_aspect],
                                  [train_status, metrics_view, fine_tuned_state, download, ngram_state,
                                   few_shot_state],
                                  api_name="fine_tune",
                                  concurrency_limit=1, concurrency_id="fine-tune")
    cancel_btn.click(cancelled_short, None, train_status, cancels=[train_event], api_visibility="private")
    upload.upload(load_text, upload, source, api_visibility="private")
    sum_btn.click(run_summarize, [source, sum_mode, length], summary, api_name="summarize")
