"""Chat tab: streaming multi-turn chat with a system prompt, sampling controls, stop, retry, undo, edit.

Also registers the `/chat` API endpoint, which streams the plain reply text.
"""

from collections.abc import Iterator
from typing import TYPE_CHECKING

import gradio as gr

from lmdemo.limits import MAX_CHARS_PER_TOKEN
from lmdemo.models.types import SamplingParams
from lmdemo.ui.guard import guard
from lmdemo.ui.i18n import t
from lmdemo.ui.throttle import throttled

if TYPE_CHECKING:
    from lmdemo.services import Services

STATUS_OPEN = '\n\n<div class="lm-status">'
STATUS_CLOSE = "</div>"
ERROR_OPEN = '<div class="lm-error">'

EXAMPLES = [
    ["What is the capital of France?"],
    ["Explain self-attention to a ten-year-old in three sentences."],
    ["Write a haiku about a small language model."],
    ["Give me three tips for writing clear emails."],
    ["用三句话解释什么是自注意力机制。"],
]


def strip_status(history: list[dict]) -> list[dict[str, str]]:
    """The conversation as the model should see it: text turns, without status footers or failed turns."""
    turns: list[dict[str, str]] = []
    for message in history:
        content = message.get("content")
        if not isinstance(content, str) or message.get("role") not in ("user", "assistant"):
            continue
        if content.startswith(ERROR_OPEN):  # a failed turn: neither it nor its question reach the model
            if turns and turns[-1]["role"] == "user":
                turns.pop()
            continue
        turns.append({"role": message["role"], "content": content.split(STATUS_OPEN, 1)[0]})
    return turns


def sampling(services: "Services", temperature: float, top_p: float, top_k: float, max_new_tokens: float,
             repetition_penalty: float) -> SamplingParams:
    """Sampling settings from UI or API values, clamped to what the server allows."""
    limit = services.settings.max_new_tokens_limit
    return SamplingParams(
        temperature=min(max(float(temperature), 0.0), 2.0),
        top_p=min(max(float(top_p), 0.01), 1.0),
        top_k=max(int(top_k), 0),
        max_new_tokens=min(max(int(max_new_tokens), 1), limit),
        repetition_penalty=min(max(float(repetition_penalty), 1.0), 2.0),
        repetition_guard=services.settings.repetition_guard,
    )


def model_choices(services: "Services") -> dict:
    """The loaded chat models for this session's picker (the default first); hidden when there is one."""
    names = services.models.chat_models()
    return gr.Dropdown(choices=names, value=names[0], visible=len(names) > 1)


def build_chat_tab(services: "Services", tab: gr.Tab) -> gr.Dropdown:
    """Render the Chat tab into the current Blocks context; `tab` refreshes the model picker when opened.

    Returns the picker, for the page to refresh when it loads.
    """
    s = services.settings
    model = gr.Dropdown(label=t("chat.model"), choices=services.models.chat_models(),
                        value=services.models.default_chat, visible=False, elem_id="chat-model",
                        info=t("chat.model_info"))

    system_prompt = gr.Textbox(value=s.system_prompt, label=t("chat.system_prompt"), lines=2, render=False)
    temperature = gr.Slider(0.0, 2.0, value=s.temperature, step=0.05, label=t("chat.temperature"), render=False)
    top_p = gr.Slider(0.05, 1.0, value=s.top_p, step=0.05, label=t("chat.top_p"), render=False)
    top_k = gr.Slider(0, 200, value=s.top_k, step=1, label=t("chat.top_k"), render=False)
    max_new_tokens = gr.Slider(
        16, s.max_new_tokens_limit, value=s.max_new_tokens, step=16, label=t("chat.max_new_tokens"), render=False
    )
    repetition_penalty = gr.Slider(
        1.0, 2.0, value=s.repetition_penalty, step=0.05, label=t("chat.repetition_penalty"), render=False
    )

    def respond(
        message: str,
        history: list[dict],
        chosen: str,
        system: str,
        temp: float,
        p: float,
        k: int,
        max_new: int,
        penalty: float,
        request: gr.Request,
    ) -> Iterator[str]:
        """Stream the reply; a problem (too long, busy…) becomes the reply itself, marked as an error.

        Raising instead would leave ChatInterface's textbox disabled until the page is reloaded.
        """
        params = sampling(services, temp, p, k, max_new, penalty)
        try:
            with guard(services, "chat", request, message) as record:
                updates = services.chat.reply(message, strip_status(history), system, params, model=chosen or None)
                for update in throttled(updates, is_last=lambda u: u.stats is not None):
                    if update.stats is None:
                        yield update.text
                    else:
                        record.update(update.stats.log_fields())
                        yield f"{update.text}{STATUS_OPEN}{update.stats.summary()}{STATUS_CLOSE}"
        except gr.Error as error:
            yield f"{ERROR_OPEN}⚠️ {error.message}{STATUS_CLOSE}"

    gr.ChatInterface(
        respond,
        chatbot=gr.Chatbot(
            label=t("chat.chatbot"),
            scale=1,
            placeholder=t("chat.placeholder"),
            buttons=["copy"],
            feedback_options=None,
            elem_id="chatbot",
        ),
        textbox=gr.Textbox(
            placeholder=t("chat.input"), submit_btn=True, stop_btn=True,
            max_length=s.max_prompt_tokens * MAX_CHARS_PER_TOKEN,  # a pasted megabyte stops in the browser
        ),
        additional_inputs=[model, system_prompt, temperature, top_p, top_k, max_new_tokens, repetition_penalty],
        additional_inputs_accordion=gr.Accordion(t("chat.settings"), open=False, render=False),
        examples=EXAMPLES,
        editable=True,
        save_history=True,  # kept in the browser (localStorage), never on the server; the sidebar deletes it
        fill_height=True,
        api_visibility="private",
    )

    def chat(
        message: str,
        system_prompt: str = s.system_prompt,
        temperature: float = s.temperature,
        top_p: float = s.top_p,
        top_k: int = s.top_k,
        max_new_tokens: int = s.max_new_tokens,
        repetition_penalty: float = s.repetition_penalty,
        history: list[dict[str, str]] | None = None,
        model: str = "",
        request: gr.Request = None,
    ) -> Iterator[str]:
        """Reply to `message` (after the optional earlier `history` turns); streams the reply text.

        `model`: one of the loaded chat models (`/models` lists them); empty for the default.
        """
        params = sampling(services, temperature, top_p, top_k, max_new_tokens, repetition_penalty)
        with guard(services, "/chat", request, message) as record:
            updates = services.chat.reply(message, history or [], system_prompt, params, model=model or None)
            for update in throttled(updates, is_last=lambda u: u.stats is not None):
                if update.stats is not None:
                    record.update(update.stats.log_fields())
                yield update.text

    gr.api(chat, api_name="chat")
    tab.select(lambda: model_choices(services), None, model, api_visibility="private")
    return model
