"""Lab tab: tokens, next-token probabilities, attention maps and embeddings of the running models.

Endpoints (plain functions, no session state): `/tokenize`, `/next_token`, `/attention`.
"""

import functools
import html
import random
from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from lmdemo.errors import UserError
from lmdemo.models.coverage import Coverage
from lmdemo.ui.guard import guard
from lmdemo.ui.heatmap import heatmap_html
from lmdemo.ui.i18n import say, t, told

if TYPE_CHECKING:
    from lmdemo.services import Services

# The heatmap of 450 tokens was ~12 MB of HTML; 64 x 64 cells stay readable and light.
ATTENTION_VIEW_TOKENS = 64
# Lab requests share a small limit of their own so that a class exploring the Lab cannot crowd out chat.
LAB_QUEUE: dict[str, Any] = {"concurrency_limit": 2, "concurrency_id": "lab"}
LAB_EVENT: dict[str, Any] = {**LAB_QUEUE, "api_visibility": "private"}
PALETTE = ["#e0e7ff", "#fce7f3", "#dcfce7", "#fef9c3", "#e0f2fe", "#ffedd5"]


def coverage_text(read: Coverage, request: gr.Request | None = None) -> str:
    """'38 of 40 letters known (5% unknown: 龘 𠀋)' in the browser's language."""
    if not read.characters:
        return say(request, "lab.coverage_none")
    if not read.unknown:
        return say(request, "lab.coverage_all", n=f"{read.characters:,}")
    return say(request, "lab.coverage_some", known=f"{read.characters - read.unknown:,}", n=f"{read.characters:,}",
               share=f"{read.share_unknown:.0%}", examples=read.unknown_examples)


def tokens_html(title: str, tokens: list[Any], read: Coverage, request: gr.Request | None = None) -> str:
    """Token chips showing what each token says (spaces as ␣), its id, and in the tooltip how the
    vocabulary spells it and any note (a piece of a character, an unknown character); then how many
    of the text's characters the tokenizer knows."""
    chips = "".join(
        f'<span class="lm-token{" lm-special" if t.special else ""}{" lm-note" if t.note else ""}"'
        f' style="background:{PALETTE[i % len(PALETTE)]}"'
        f' title="{html.escape(f"id {t.id} · spelled {t.text!r}" + (f" · {t.note}" if t.note else ""))}">'
        f"{html.escape((t.shown or t.text).replace(' ', '␣'))}<sub>{t.id}</sub></span>"
        for i, t in enumerate(tokens)
    )
    unknown = sum(1 for t in tokens if t.note.startswith("not in the vocabulary"))
    warning = f"<p class='lm-warning'>{say(request, 'lab.unknown_tokens', n=unknown)}</p>" if unknown else ""
    return (f"<h4>{html.escape(title)} · {say(request, 'lab.token_count', n=len(tokens))} · "
            f"{html.escape(coverage_text(read, request))}</h4>"
            f"<div class='lm-tokens'>{chips}</div>{warning}")


def attention_view(names: list[str], matrix: Any, layer: int, head: int | None) -> str:
    """The attention heatmap, at most ATTENTION_VIEW_TOKENS square, saying so when it is cut."""
    what = "average of heads" if head is None else f"head {head}"
    caption = f"Layer {layer}, {what}: row = query token, column = key token."
    if len(names) > ATTENTION_VIEW_TOKENS:
        caption += (f" Showing the first {ATTENTION_VIEW_TOKENS} of {len(names)} tokens; "
                    "the <code>/attention</code> API returns them all.")
        names, matrix = names[:ATTENTION_VIEW_TOKENS], matrix[:ATTENTION_VIEW_TOKENS, :ATTENTION_VIEW_TOKENS]
    return heatmap_html(names, names, matrix, caption)


def build_lab_tab(services: "Services") -> None:
    """Render the Lab tab into the current Blocks context."""
    lab = services.lab

    def guarded(fn):
        @functools.wraps(fn)  # Gradio reads the signature: a `request: gr.Request` parameter gets the request
        def wrapper(*args):
            try:
                return fn(*args)
            except UserError as error:
                request = next((a for a in args if isinstance(a, gr.Request)), None)
                raise gr.Error(told(request, error)) from error
        return wrapper

    with gr.Tab(t("lab.tokens")):
        token_text = gr.Textbox(label=t("lab.text"), value="Tokenization splits unbelievably long words!", lines=2)
        token_btn = gr.Button(t("lab.tokenize"), variant="primary")
        token_view = gr.HTML(elem_id="lab-tokens")
    with gr.Tab(t("lab.next_token")):
        prompt = gr.Textbox(label=t("lab.prompt"), value="The capital of France is")
        with gr.Row():
            temperature = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label=t("lab.temperature"))
            top_k = gr.Slider(0, 100, value=0, step=1, label=t("chat.top_k"))
            top_p = gr.Slider(0.05, 1.0, value=1.0, step=0.05, label=t("chat.top_p"))
        with gr.Row():
            show_btn = gr.Button(t("lab.show"), variant="primary")
            step_btn = gr.Button(t("lab.step"))
        bars = gr.BarPlot(x="token", y="probability", title=t("lab.p_next"), sort="-y", elem_id="lab-next")
    with gr.Tab(t("lab.attention")) as attention_tab:
        attn_text = gr.Textbox(label=t("lab.text"), value="The animal did not cross the street because it was tired.")
        with gr.Row():
            which = gr.Radio([(t("lab.gpt"), "gpt"), (t("lab.bert"), "bert")], value="gpt", label=t("lab.model"))
            layer = gr.Slider(0, 29, value=0, step=1, label=t("lab.layer"))
            head = gr.Slider(-1, 15, value=-1, step=1, label=t("lab.head"))
        attn_btn = gr.Button(t("lab.show_attention"), variant="primary")
        attn_view = gr.HTML(elem_id="lab-attention")
    with gr.Tab(t("lab.embeddings")):
        sentences = gr.Textbox(
            label=t("lab.sentences"), lines=6,
            value="A cat sits on the mat.\nA kitten rests on a rug.\nStocks fell sharply today.\nMarkets dropped on Monday.",
        )
        embed_btn = gr.Button(t("lab.compare"), variant="primary")
        sim_view = gr.HTML(elem_id="lab-similarity")
        scatter = gr.ScatterPlot(x="x", y="y", color="sentence", title=t("lab.pca"), elem_id="lab-pca")

    def show_tokens(text: str, request: gr.Request) -> str:
        views, read = lab.tokenize(text), lab.coverage(text)
        return (tokens_html(say(request, "lab.bpe"), views["gpt"], read["gpt"], request)
                + tokens_html(say(request, "lab.wordpiece"), views["bert"], read["bert"], request))

    def distribution(text: str, t: float, k: float, p: float, request: gr.Request) -> pd.DataFrame:
        rows = lab.next_token(text, int(k), float(t), float(p), show=15)
        return pd.DataFrame({"token": [repr(r["token"]) for r in rows], "probability": [r["probability"] for r in rows]})

    def step(text: str, t: float, k: float, p: float, request: gr.Request) -> tuple[str, pd.DataFrame]:
        rows = [r for r in lab.next_token(text, int(k), float(t), float(p), show=50) if r["probability"] > 0]
        chosen = rows[0] if t <= 0 else random.choices(rows, weights=[r["probability"] for r in rows])[0]
        text = text + chosen["token"]
        return text, distribution(text, t, k, p, request)

    def show_attention(text: str, model: str, lay: float, hd: float, request: gr.Request) -> str:
        names, matrix = lab.attention(text, model, int(lay), None if hd < 0 else int(hd))
        return attention_view(names, matrix, int(lay), None if hd < 0 else int(hd))

    def compare_embeddings(text: str, request: gr.Request) -> tuple[str, pd.DataFrame]:
        lines = [line for line in text.splitlines() if line.strip()]
        similarity, projection = lab.embeddings(lines)
        short = [line[:40] for line in lines]
        frame = pd.DataFrame({"x": projection[:, 0], "y": projection[:, 1], "sentence": short})
        return heatmap_html(short, [str(i + 1) for i in range(len(lines))], similarity, say(request, "lab.cosine")), frame

    def layer_range(model: str) -> tuple[dict, dict]:
        layers, heads = lab.shape(model)
        return gr.Slider(maximum=layers - 1, value=0), gr.Slider(maximum=heads - 1, value=-1)

    token_btn.click(guarded(show_tokens), token_text, token_view, **LAB_EVENT)
    gr.on([show_btn.click, temperature.release, top_k.release, top_p.release], guarded(distribution),
          [prompt, temperature, top_k, top_p], bars, **LAB_EVENT)
    step_btn.click(guarded(step), [prompt, temperature, top_k, top_p], [prompt, bars], **LAB_EVENT)
    gr.on([which.change, attention_tab.select], guarded(layer_range), which, [layer, head], api_visibility="private")
    attn_btn.click(guarded(show_attention), [attn_text, which, layer, head], attn_view, **LAB_EVENT)
    embed_btn.click(guarded(compare_embeddings), sentences, [sim_view, scatter], **LAB_EVENT)

    def tokenize(text: str, request: gr.Request = None) -> dict:
        """Tokens of `text` for the GPT-style and the BERT-style tokenizer."""
        with guard(services, "/tokenize", request, text):
            views = lab.tokenize(text)
        return {name: [{"token": t.text, "id": t.id, "special": t.special, "shown": t.shown, "note": t.note}
                       for t in toks] for name, toks in views.items()}

    def next_token(prompt: str, top_k: int = 10, temperature: float = 1.0, request: gr.Request = None) -> list[dict]:
        """The most likely next tokens with their probabilities."""
        with guard(services, "/next_token", request, prompt):
            rows = lab.next_token(prompt, int(top_k), float(temperature), 1.0, int(top_k) or 10)
        return [{"token": r["token"], "probability": r["probability"]} for r in rows]

    def attention(text: str, model: str = "gpt", layer: int = 0, head: int = -1, request: gr.Request = None) -> dict:
        """Attention weights (rows: query tokens) of one layer and head (-1: head average)."""
        with guard(services, "/attention", request, text):
            names, matrix = lab.attention(text, model, int(layer), None if head < 0 else int(head))
        return {"tokens": names, "matrix": matrix.round(6).tolist()}

    gr.api(tokenize, api_name="tokenize", **LAB_QUEUE)
    gr.api(next_token, api_name="next_token", **LAB_QUEUE)
    gr.api(attention, api_name="attention", **LAB_QUEUE)
