"""Document QA tab: upload files, index them, ask questions, see cited sources highlighted.

The user's index lives in a gr.State, so each browser session (and each gradio_client)
has its own documents. Endpoints: `/ingest` (files → summary) and `/ask` (question →
answer, sources as JSON).
"""

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from lmdemo.docqa.index import MODES
from lmdemo.docqa.service import ANSWER_MODES
from lmdemo.errors import UserError
from lmdemo.ui.chat import sampling
from lmdemo.ui.guard import guard
from lmdemo.ui.i18n import language, say, t
from lmdemo.ui.throttle import throttled
from lmdemo.words import has_han

if TYPE_CHECKING:
    from lmdemo.services import Services

FILE_TYPES = [".pdf", ".docx", ".html", ".htm", ".md", ".markdown", ".txt"]


def _highlight(words: list[str]) -> re.Pattern:
    """The matched words as whole words; a Chinese word inside a run of characters (which has no
    word boundaries) too."""
    alternatives = [re.escape(html.escape(w)) if has_han(w) else rf"\b{re.escape(html.escape(w))}\b" for w in words]
    return re.compile("(" + "|".join(alternatives) + ")")


def sources_html(sources: list[dict[str, Any]], request: gr.Request = None) -> str:
    """Cards for the cited passages with the matched words marked."""
    if not sources:
        return ""
    cards = []
    for s in sources:
        text = html.escape(s["text"])
        words = sorted(s.get("matched", []), key=len, reverse=True)
        if words:
            text = _highlight(words).sub(r"<mark>\1</mark>", text)
        where = f" · {say(request, 'docqa.page', page=s['page'])}" if s.get("page") else ""
        heading = f" · {html.escape(s['heading'])}" if s.get("heading") else ""
        cards.append(
            f'<div class="lm-source"><div class="lm-source-head"><b>[{s["number"]}]</b> '
            f"{html.escape(s['source'])}{where}{heading} · {say(request, 'docqa.score')} {s['score']:.3f}</div>"
            f'<div class="lm-source-text">{text}</div></div>'
        )
    return "".join(cards)


def _documents_markdown(index: Any, request: gr.Request | None = None) -> Any:
    """The indexed files with their passage counts (a translation key while there are none)."""
    if index is None or not len(index):
        return t("docqa.none")
    counts: dict[str, int] = {}
    for passage in index.passages:
        counts[passage.source] = counts.get(passage.source, 0) + 1
    files = "\n".join(f"- **{name}**: {say(request, 'docqa.passages', n=n) if n != 1 else say(request, 'docqa.passage')}" for name, n in counts.items())
    return f"*{index.search_status(language(request) == 'zh')}*\n\n{files}"


def _documents_and_timer(index: Any, request: gr.Request) -> tuple[Any, gr.Timer]:
    """The documents with search status; the timer keeps polling while vectors are being computed."""
    embedding = index is not None and not index.ready and not index.error and not index.cancelled
    return _documents_markdown(index, request), gr.Timer(active=embedding)


def _remove_all(index: Any) -> tuple:
    if index is not None:
        index.cancel()
    return None, t("docqa.none"), "", None


def build_docqa_tab(services: "Services") -> None:
    """Render the Document QA tab into the current Blocks context."""
    docqa = services.docqa
    s = services.settings
    index_state = gr.State(None)

    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            files = gr.File(label=t("docqa.documents"), file_count="multiple", file_types=FILE_TYPES, type="filepath")
            with gr.Row():
                ingest_btn = gr.Button(t("docqa.index"), variant="primary")
                clear_btn = gr.Button(t("docqa.remove"))
            ingest_status = gr.Textbox(label=t("docqa.indexing"), lines=3, interactive=False)
            documents = gr.Markdown(t("docqa.none"), elem_id="docqa-documents")
            embedding_timer = gr.Timer(1.0, active=False)
            with gr.Accordion(t("docqa.settings"), open=False):
                mode = gr.Radio([(t(f"docqa.mode.{m}"), m) for m in MODES], value=docqa.config.mode,
                                label=t("docqa.retrieval"))
                top_k = gr.Slider(1, 10, value=docqa.config.top_k, step=1, label=t("docqa.top_k"))
        with gr.Column(scale=2):
            question = gr.Textbox(label=t("docqa.question"), placeholder=t("docqa.question_placeholder"))
            answer_mode = gr.Radio([(t(f"docqa.answer.{m}"), m) for m in ANSWER_MODES],
                                   value=docqa.config.answer_mode, label=t("docqa.answer"), info=t("docqa.answer_info"))
            ask_btn = gr.Button(t("docqa.ask"), variant="primary")
            answer = gr.Markdown(elem_id="docqa-answer")
            sources = gr.JSON(visible=False)
            sources_view = gr.HTML(elem_id="docqa-sources")

    def ingest(
        paths: list[str] | None, index: Any, request: gr.Request, progress: gr.Progress = gr.Progress()
    ) -> tuple[str, Any]:
        """Index the uploads into this session's index, then delete the uploaded copies."""
        with guard(services, "/ingest", request) as record:
            present = [Path(p) for p in paths or [] if Path(p).is_file()]
            if not present:
                raise UserError(say(request, "docqa.choose_files"))
            index = index if index is not None else docqa.new_index()
            try:
                report = docqa.ingest(
                    index, [(p, p.name) for p in present], lambda fraction, message: progress(fraction, desc=message),
                    wait=False,
                )
            finally:
                for path in present:
                    path.unlink(missing_ok=True)
            record.update(files=len(present), passages=len(index))
            return report.summary(language(request) == "zh"), index

    def ask(
        query: str, index: Any, retrieval: str, k: float, mode: str = docqa.config.answer_mode,
        request: gr.Request = None,
    ) -> Iterator[tuple[str, list[dict]]]:
        params = sampling(services, 0.0, s.top_p, s.top_k, 200, 1.0)
        yield say(request, "docqa.searching"), []
        with guard(services, "/ask", request, query):
            updates = docqa.ask(index if index is not None else docqa.new_index(), query, params, int(k), retrieval,
                                mode)  # type: ignore[arg-type]
            for update in throttled(updates, is_last=lambda u: u.done):
                how = f"\n\n<small>{update.how}</small>" if update.done and update.how else ""
                yield update.text + how, [source.as_dict() for source in update.sources]

    ingest_event = ingest_btn.click(
        ingest, [files, index_state], [ingest_status, index_state], api_name="ingest", concurrency_limit=2
    )
    ingest_event.then(_documents_and_timer, index_state, [documents, embedding_timer], api_visibility="private")
    embedding_timer.tick(_documents_and_timer, index_state, [documents, embedding_timer], api_visibility="private",
                         show_progress="hidden")
    clear_btn.click(_remove_all, index_state, [index_state, documents, ingest_status, files], api_visibility="private")
    gr.on(
        [ask_btn.click, question.submit], ask, [question, index_state, mode, top_k, answer_mode], [answer, sources], api_name="ask"
    ).then(sources_html, sources, sources_view, api_visibility="private")
