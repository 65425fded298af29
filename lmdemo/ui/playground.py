"""Playground tab: classify text (zero-shot, few-shot, fine-tuned on your CSV) and summarise it.

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
from lmdemo.models.coverage import unreadable
from lmdemo.tasks.classify import TrainConfig, parse_labels
from lmdemo.tasks.dataset import LabelledTexts, read_csv
from lmdemo.ui.guard import guard
from lmdemo.ui.heatmap import heatmap_html
from lmdemo.ui.throttle import throttled

if TYPE_CHECKING:
    from lmdemo.services import Services

MODES = [
    ("zero-shot", "zero-shot"),
    ("zero-shot (ask the chat model)", "zero-shot-chat"),
    ("few-shot", "few-shot"),
    ("fine-tuned", "fine-tuned"),
    ("n-gram baseline (TF-IDF)", "ngram"),
]
EXAMPLE_SHOTS = [
    ["The striker scored twice in the final minutes of the match.", "sport"],
    ["The central bank raised interest rates by half a point.", "business"],
    ["Parliament voted on the new immigration bill on Tuesday.", "politics"],
    ["The new phone has a faster chip and a better camera.", "tech"],
]


def confusion_html(metrics: dict[str, Any]) -> str:
    """The held-out confusion matrix as a shaded table, with accuracy and macro-F1."""
    if not metrics:
        return ""
    caption = (
        f"<b>Held-out accuracy {metrics['accuracy']:.3f}</b> · macro-F1 {metrics['macro_f1']:.3f} · "
        f"{metrics['support']} rows"
    )
    classes = metrics["classes"]
    return heatmap_html(
        classes, classes, metrics["confusion"], caption,
        css_class="lm-confusion", corner="gold \\ predicted", show_values=True,
    )


def _shots(table: Any) -> LabelledTexts:
    rows = table.values.tolist() if hasattr(table, "values") else list(table or [])
    pairs = [(str(t).strip(), str(lab).strip()) for t, lab, *_ in rows if str(t).strip() and str(lab).strip()]
    if len({lab for _, lab in pairs}) < 2:
        raise UserError("Add examples of at least two labels to the table.")
    return LabelledTexts([t for t, _ in pairs], [lab for _, lab in pairs])


def build_playground_tab(services: "Services") -> None:
    """Render the Playground tab into the current Blocks context."""
    classify, summarize = services.classify, services.summarize
    few_shot_state = gr.State(None)
    fine_tuned_state = gr.State(None)
    ngram_state = gr.State(None)

    with gr.Tab("Classify"):
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                text = gr.Textbox(label="Text to classify", lines=4, placeholder="Paste a sentence or an article")
                labels = gr.Textbox(
                    label="Labels (zero-shot)", value="sport, business, politics, tech, entertainment",
                    info="Comma-separated, or one per line as `label: description`.",
                )
                mode = gr.Radio(MODES, value="zero-shot", label="Classifier")
                classify_btn = gr.Button("Classify", variant="primary")
                scores = gr.Label(label="Scores", num_top_classes=10, elem_id="classify-scores")
            with gr.Column(scale=2):
                with gr.Accordion("Few-shot: a few examples per label", open=False):
                    shots = gr.Dataframe(
                        value=EXAMPLE_SHOTS, headers=["text", "label"], column_count=(2, "fixed"),
                        interactive=True, wrap=True,
                    )
                    gr.Markdown("With 4 or more examples of every label, SetFit fine-tunes a copy of the encoder "
                                "on pairs of them first (about a minute on a CPU); with fewer, a head is trained "
                                "on the encoder's embeddings (a second).")
                    with gr.Row():
                        train_few_btn = gr.Button("Train few-shot")
                        cancel_few_btn = gr.Button("Cancel")
                    few_status = gr.Markdown()
                with gr.Accordion("Fine-tune on your CSV (text,label)", open=False):
                    csv_file = gr.File(label="Training CSV", file_types=[".csv"], type="filepath")
                    with gr.Row():
                        epochs = gr.Slider(1, 8, value=4, step=1, label="Epochs (at most: the best one on the held-out split is kept)")
                        eight_bit = gr.Checkbox(label="Load the base in 8-bit (bitsandbytes)")
                    with gr.Row():
                        train_btn = gr.Button("Fine-tune", variant="primary")
                        cancel_btn = gr.Button("Cancel")
                    train_status = gr.Markdown()
                    metrics_view = gr.HTML()
                    download = gr.DownloadButton("Download the model (.zip)", visible=False)

    with gr.Tab("Summarize"):
        with gr.Row(equal_height=False):
            with gr.Column():
                source = gr.Textbox(label="Text", lines=10, placeholder="Paste text, or upload a file below")
                upload = gr.File(
                    label="…or load the text of a document", file_types=[".pdf", ".docx", ".html", ".md", ".txt"],
                    type="filepath",
                )
                with gr.Row():
                    sum_mode = gr.Radio(["extractive", "abstractive"], value="extractive", label="Method")
                    length = gr.Slider(1, 10, value=3, step=1, label="Sentences")
                sum_btn = gr.Button("Summarize", variant="primary")
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
                    raise UserError("Train the few-shot head first (Few-shot accordion).")
                prediction = classify.few_shot(few, [value])[0]
            elif which == "fine-tuned":
                if tuned is None:
                    raise UserError("Fine-tune a model on your CSV first.")
                prediction = classify.fine_tuned(tuned, [value])[0]
            elif which == "ngram":
                if ngram is None:
                    raise UserError("Fine-tune on your CSV first: the n-gram baseline is trained on it too.")
                prediction = ngram.predict([value])[0]
            else:
                raise UserError(f"mode must be one of {', '.join(value for _, value in MODES)}")
        return prediction.scores

    def train_few(table: Any, request: gr.Request, progress: gr.Progress = gr.Progress()) -> Iterator:
        """Train the few-shot classifier into this session; streams progress, Cancel stops it."""
        with guard(services, "few_shot", request):
            data = _shots(table)
            update = None
            for update in classify.few_shot_stream(data):
                progress(update.fraction, desc=update.message)
                yield gr.skip(), f"Training… {update.message}"
        counts = ", ".join(f"{k}: {v}" for k, v in data.counts().items())
        yield update.model, (f"{update.message[:1].upper()}{update.message[1:]}, from {len(data.texts)} examples ({counts}). "
                             "Choose **few-shot** and classify.")

    def train(
        path: str | None, n_epochs: float, quantized: bool, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> Iterator:
        """Fine-tune on the uploaded CSV (deleted once read); streams progress, then the metrics."""
        with guard(services, "/fine_tune", request):
            if not path or not Path(path).is_file():
                raise UserError("Upload a CSV with `text,label` columns first.")
            try:
                data = read_csv(Path(path))
            finally:
                Path(path).unlink(missing_ok=True)
            counts = ", ".join(f"{k}: {v}" for k, v in data.counts().items())
            baseline = classify.train_ngram(data)
            against = (f"n-gram baseline (TF-IDF + logistic regression, seconds to train): "
                       f"{baseline.metrics['accuracy']:.3f}" if baseline.metrics else "n-gram baseline trained")
            read = classify.reads(data.texts)
            if read.poor:
                yield (f"{against}. Choose the **n-gram baseline** and classify. Not fine-tuned: "
                       f"{unreadable(f'the encoder {services.embedder.name()}', read)}", "", None,
                       gr.DownloadButton(visible=False), baseline)
                return
            yield (f"Training on {len(data.texts)} rows ({counts})… {against}.", "", gr.skip(),
                   gr.DownloadButton(visible=False), baseline)
            quantization = "8bit" if quantized else "none"
            for update in throttled(classify.fine_tune_stream(data, TrainConfig(epochs=int(n_epochs)), quantization),
                                    interval=0.25, is_last=lambda u: u.model is not None):
                progress(update.fraction, desc=update.message)
                if update.model is None:
                    yield update.message, gr.skip(), gr.skip(), gr.skip(), gr.skip()
                    continue
                archive = Path(tempfile.mkdtemp(prefix="lmdemo-model-")) / "classifier.zip"
                archive.write_bytes(update.archive)
                yield (
                    f"Done. Choose **fine-tuned** (or the **n-gram baseline**) and classify, or download the model. "
                    f"BERT vs n-grams, accuracy on the rows held out: fine-tuned {update.model.metrics['accuracy']:.3f}; {against}.",
                    confusion_html(update.model.metrics),
                    update.model,
                    gr.DownloadButton(value=str(archive), visible=True),
                    gr.skip(),
                )

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

    gr.on([classify_btn.click, text.submit], run_classify,
          [text, labels, mode, few_shot_state, fine_tuned_state, ngram_state], scores, api_name="classify")
    few_event = train_few_btn.click(train_few, shots, [few_shot_state, few_status], api_visibility="private")
    cancel_few_btn.click(lambda: "Cancelled; nothing was kept.", None, few_status, cancels=[few_event],
                         api_visibility="private")
    train_event = train_btn.click(train, [csv_file, epochs, eight_bit],
                                  [train_status, metrics_view, fine_tuned_state, download, ngram_state],
                                  api_name="fine_tune",
                                  concurrency_limit=1, concurrency_id="fine-tune")
    cancel_btn.click(lambda: "Cancelled.", None, train_status, cancels=[train_event], api_visibility="private")
    upload.upload(load_text, upload, source, api_visibility="private")
    sum_btn.click(run_summarize, [source, sum_mode, length], summary, api_name="summarize")
