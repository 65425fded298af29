"""Compare tab (arena): one prompt, two loaded models side by side, then a vote.

Votes are tallied in the session and can be downloaded as JSONL; nothing is kept on the server.
Endpoint: `/compare` (prompt, model_a, model_b → both replies as they stream).
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from lmdemo.chat.compare import Side, compare
from lmdemo.ui.chat import sampling
from lmdemo.ui.guard import guard
from lmdemo.ui.i18n import language, say, t
from lmdemo.ui.throttle import throttled

if TYPE_CHECKING:
    from lmdemo.services import Services

VOTES = ("left", "right", "tie", "both-bad")


def tally_markdown(votes: list[dict[str, Any]], request: gr.Request | None = None) -> str:
    """How many votes of each kind, and each model's wins."""
    if not votes:
        return say(request, "compare.no_votes")
    counts = Counter(v["vote"] for v in votes)
    wins: Counter = Counter()
    for v in votes:
        if v["vote"] == "left":
            wins[v["model_a"]] += 1
        elif v["vote"] == "right":
            wins[v["model_b"]] += 1
    lines = [say(request, "compare.votes", n=len(votes)) + ": " + ", ".join(f"{say(request, f'compare.vote.{k}')} {counts[k]}" for k in VOTES if counts[k])]
    lines += [f"- {model}: {say(request, 'compare.wins', n=n)}" for model, n in wins.most_common()]
    return "\n".join(lines)


def build_compare_tab(services: Services, tab: gr.Tab) -> None:
    """Render the Compare tab; `tab` refreshes the model choices when opened."""
    s = services.settings
    votes = gr.State([])
    last = gr.State(None)
    prompt = gr.Textbox(label=t("compare.prompt"), lines=2, placeholder=t("compare.placeholder"))
    with gr.Row():
        model_a = gr.Dropdown(label=t("compare.left"), elem_id="compare-model-a")
        model_b = gr.Dropdown(label=t("compare.right"), elem_id="compare-model-b")
    with gr.Accordion(t("chat.settings"), open=False):
        system = gr.Textbox(value=s.system_prompt, label=t("chat.system_prompt"))
        with gr.Row():
            temperature = gr.Slider(0.0, 2.0, value=s.temperature, step=0.05, label=t("chat.temperature"))
            max_new = gr.Slider(16, s.max_new_tokens_limit, value=256, step=16, label=t("chat.max_new_tokens"))
    go = gr.Button(t("compare.go"), variant="primary")
    gr.Markdown(t("compare.help"))
    with gr.Row(equal_height=False):
        with gr.Column():
            left = gr.Markdown(elem_id="compare-left")
            left_stats = gr.Markdown(elem_id="compare-left-stats")
        with gr.Column():
            right = gr.Markdown(elem_id="compare-right")
            right_stats = gr.Markdown(elem_id="compare-right-stats")
    with gr.Row():
        buttons = {key: gr.Button(t(f"compare.vote.{key}"), interactive=False) for key in VOTES}
    tally = gr.Markdown(t("compare.no_votes"), elem_id="compare-tally")
    download = gr.DownloadButton(t("compare.download"), visible=False)

    def choices() -> tuple[dict, dict]:
        names = services.models.chat_models()
        return (gr.Dropdown(choices=names, value=names[0]),
                gr.Dropdown(choices=names, value=names[1] if len(names) > 1 else names[0]))

    def stream(text: str, a: str, b: str, system_text: str, temp: float, new: float,
               request: gr.Request) -> Iterator[dict[str, Side]]:
        params = sampling(services, temp, s.top_p, s.top_k, new, 1.0)
        with guard(services, "/compare", request, text):
            sides = compare(services.chat, text, (a, b), system_text, params, services.models.memory_mb)
            for pair in throttled(sides, is_last=lambda p: p[0].done and p[1].done):
                yield {"a": pair[0], "b": pair[1]}

    def run(text: str, a: str, b: str, system_text: str, temp: float, new: float, request: gr.Request) -> Iterator:
        disabled = [gr.Button(interactive=False)] * len(VOTES)
        chinese = language(request) == "zh"
        yield "", "…", "", "…", None, *disabled
        pair = None
        for pair in stream(text, a, b, system_text, temp, new, request):
            yield pair["a"].text, pair["a"].summary(chinese), pair["b"].text, pair["b"].summary(chinese), None, *disabled
        done = {"prompt": text, "model_a": a, "model_b": b, "reply_a": pair["a"].text, "reply_b": pair["b"].text}
        yield (pair["a"].text, pair["a"].summary(chinese), pair["b"].text, pair["b"].summary(chinese), done,
               *[gr.Button(interactive=True)] * len(VOTES))

    def vote(choice: str):
        def record(current: dict | None, tallied: list[dict], request: gr.Request) -> tuple:
            if current is None:
                return tallied, tally_markdown(tallied, request), gr.skip(), None, *[gr.skip()] * len(VOTES)
            tallied = [*tallied, {**current, "vote": choice, "time": round(time.time(), 3)}]
            path = Path(tempfile.mkdtemp(prefix="lmdemo-votes-")) / "votes.jsonl"
            path.write_text("".join(json.dumps(v, ensure_ascii=False) + "\n" for v in tallied), encoding="utf-8")
            return (tallied, tally_markdown(tallied, request), gr.DownloadButton(value=str(path), visible=True), None,
                    *[gr.Button(interactive=False)] * len(VOTES))
        return record

    tab.select(choices, None, [model_a, model_b], api_visibility="private")
    gr.on([go.click, prompt.submit], run, [prompt, model_a, model_b, system, temperature, max_new],
          [left, left_stats, right, right_stats, last, *buttons.values()], api_visibility="private")
    for key, button in buttons.items():
        button.click(vote(key), [last, votes], [votes, tally, download, last, *buttons.values()],
                     api_visibility="private")

    def compare_endpoint(prompt: str, model_a: str = "", model_b: str = "", max_new_tokens: int = 256,
                         temperature: float = s.temperature, request: gr.Request = None) -> Iterator[dict]:
        """Both replies as they stream: {"a": {...}, "b": {...}} with text, tok/s, first token time, memory."""
        names = services.models.chat_models()
        a, b = model_a or names[0], model_b or (names[1] if len(names) > 1 else names[0])
        for pair in stream(prompt, a, b, s.system_prompt, temperature, max_new_tokens, request):
            yield {"a": pair["a"].as_dict(), "b": pair["b"].as_dict()}

    gr.api(compare_endpoint, api_name="compare")
