"""Models tab: what is loaded, what could be (with its memory cost), download, load, switch, unload.

Endpoints: `/models` (the list with estimates and status), `/load_model` (name, role, quantization,
engine), `/unload_model` (name), `/download_model` (name). Who may change the models: anyone when
the app runs on localhost without --auth; otherwise only the users named by --admins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr

from lmdemo.errors import UserError
from lmdemo.ui.guard import guard
from lmdemo.ui.i18n import say, t

if TYPE_CHECKING:
    from lmdemo.models.management import ModelRow
    from lmdemo.services import Services
    from lmdemo.settings import Settings

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def management_refusal(settings: Settings, request: gr.Request | None) -> str:
    """Why this user may not change the models ("" when they may)."""
    if settings.zero_gpu:
        return "On ZeroGPU the models load when the Space starts: change them with the Space's variables."
    if settings.remote:
        return "The remote profile chats with the model of its engine; change that model there."
    user = getattr(request, "username", None)
    if settings.admin_users:
        if user in settings.admin_users:
            return ""
        return "Only the admins named by --admins may load or unload models on this app."
    if settings.auth or settings.share or settings.host not in LOOPBACK:
        return "This app is shared: only users named by --admins may load or unload models (none are)."
    return ""


def loaded_markdown(services: Services) -> str:
    reports = services.models.reports()
    remote = (
        f"Chat is served by **{services.settings.chat_model}** at {services.settings.base_url} (remote profile).\n\n"
        if services.settings.remote
        else ""
    )
    if not reports:
        return remote + "No model loaded yet: the first request loads the default ones."
    rows = [
        f"Default chat model: **{services.models.default_chat}**. Chat models loaded: "
        f"{', '.join(services.models.chat_models())}.\n",
        "| role | model | engine | device | dtype | quantization | memory | load time | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in reports:
        rows.append(
            f"| {r.role} | {r.name} | {r.engine} | {r.device} | {r.dtype} | {r.quantization} | "
            f"{r.footprint_mb:.0f} MB | {r.load_seconds:.2f} s | {r.note} |"
        )
    return remote + "\n".join(rows)


def _cell(row: ModelRow, quantization: str, free_mb: float, kv_tokens: int) -> str:
    estimate = next((e for e in row.estimates if e.quantization == quantization), None)
    if estimate is None:
        return "—"
    kv = f" + {estimate.kv_mb_per_1k:.0f} MB/1k tok" if estimate.kv_mb_per_1k else ""
    fits = "✓" if estimate.total_mb(kv_tokens) <= free_mb else "✗ too big"
    return f"{estimate.weights_mb:,.0f} MB{kv} {fits}"


def available_table(services: Services) -> list[list[Any]]:
    management = services.management
    free, tokens = management.free_mb(), services.settings.kv_cache_tokens
    return [
        [row.name, row.spec, row.role, row.source, row.params_m, _cell(row, "gguf", free, tokens),
         _cell(row, "none", free, tokens), _cell(row, "8bit", free, tokens), _cell(row, "4bit", free, tokens),
         row.status, row.note]
        for row in management.available()
    ]


HEADERS = ["name", "spec", "role", "source", "params (M)", "GGUF (llama.cpp)", "none", "8-bit", "4-bit", "status", "note"]


def build_models_tab(services: Services, tab: gr.Tab) -> None:
    """Render the Models tab into the current Blocks context; `tab` refreshes it when opened."""
    s = services.settings
    management = services.management
    loaded = gr.Markdown()
    refusal = gr.Markdown(visible=False, elem_id="models-refusal")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            gr.Markdown(t("models.memory_help") + f" `{s.models_dir}`.")
            table = gr.Dataframe(headers=HEADERS, interactive=False, wrap=True, elem_id="models-available")
        with gr.Column(scale=2):
            spec = gr.Dropdown(label=t("models.model"), allow_custom_value=True, info=t("models.model_info"),
                               elem_id="models-spec")
            role = gr.Radio(["chat", "encoder"], value="chat", label=t("models.role"), elem_id="models-role")
            quantization = gr.Radio(["none", "8bit", "4bit"], value="none", label=t("models.quantization"),
                                    elem_id="models-quantization")
            engine = gr.Radio(["auto", "transformers", "llamacpp"], value="auto", label=t("models.engine"), elem_id="models-engine")
            with gr.Row():
                estimate_btn = gr.Button(t("models.estimate"))
                download_btn = gr.Button(t("models.download"))
                load_btn = gr.Button(t("models.load"), variant="primary")
            unload_choice = gr.Dropdown(label=t("models.loaded_chat"), allow_custom_value=True, elem_id="models-unload-choice")
            unload_btn = gr.Button(t("models.unload"))
            status = gr.Markdown(elem_id="models-status")

    def refresh(request: gr.Request) -> tuple:
        why = management_refusal(s, request)
        rows = available_table(services)
        chats = services.models.chat_models()
        controls = [gr.Button(interactive=not why)] * 3
        return (
            loaded_markdown(services),
            gr.Markdown(say(request, "models.read_only", why=why) if why else "", visible=bool(why)),
            rows,
            gr.Dropdown(choices=[r[1] for r in rows]),
            gr.Dropdown(choices=chats, value=chats[-1] if len(chats) > 1 else chats[0]),
            *controls,
        )

    outputs = [loaded, refusal, table, spec, unload_choice, download_btn, load_btn, unload_btn]

    def allowed(request: gr.Request | None) -> None:
        why = management_refusal(s, request)
        if why:
            raise UserError(why)

    def estimate(name: str, which_role: str, request: gr.Request) -> str:
        with guard(services, "estimate", request):
            if not (name or "").strip():
                raise UserError(say(request, "models.pick"))
            row = management.describe(name, which_role)
            lines = [f"**{row.name}** ({row.role}, {row.params_m or '?'} M parameters, {row.status}). {row.note}"]
            for e in row.estimates:
                kv = f", KV cache {e.kv_mb_per_1k:.1f} MB per 1,000 tokens" if e.kv_mb_per_1k else ""
                lines.append(f"- {e.quantization} ({e.engine}): weights {e.weights_mb:,.0f} MB{kv}")
            lines.append(f"\nFree now: {management.free_mb():,.0f} MB.")
            return "\n".join(lines)

    def download(name: str, request: gr.Request, progress: gr.Progress = gr.Progress()) -> str:
        """Download a hub model's safetensors or GGUF, config and tokenizer files (progress in bytes)."""
        with guard(services, "/download_model", request):
            allowed(request)
            return management.download(name or "", lambda fraction, message: progress(fraction, desc=message))

    def load(name: str, which_role: str, quant: str, which_engine: str, request: gr.Request,
             progress: gr.Progress = gr.Progress()) -> str:
        """Load a model (a hub model is downloaded first); a chat model becomes the default for new requests."""
        with guard(services, "/load_model", request):
            allowed(request)
            if not (name or "").strip():
                raise UserError(say(request, "models.pick"))
            return management.load(name, which_role, quant, which_engine,
                                   lambda fraction, message: progress(fraction, desc=message))

    def unload(name: str, request: gr.Request) -> str:
        """Unload a chat model; the replies it is writing finish first."""
        with guard(services, "/unload_model", request):
            allowed(request)
            if not name:
                raise UserError(say(request, "models.pick_loaded"))
            return management.unload(name)

    tab.select(refresh, None, outputs, api_visibility="private")
    estimate_btn.click(estimate, [spec, role], status, api_visibility="private")
    download_btn.click(download, spec, status, api_name="download_model", concurrency_limit=1,
                       concurrency_id="models").then(refresh, None, outputs, api_visibility="private")
    load_btn.click(load, [spec, role, quantization, engine], status, api_name="load_model", concurrency_limit=1,
                   concurrency_id="models").then(refresh, None, outputs, api_visibility="private")
    unload_btn.click(unload, unload_choice, status, api_name="unload_model", concurrency_limit=1,
                     concurrency_id="models").then(refresh, None, outputs, api_visibility="private")

    def models(request: gr.Request = None) -> dict:
        """The loaded models and everything that could be loaded, with memory estimates."""
        with guard(services, "/models", request):
            free = management.free_mb()
            return {
                "default_chat": services.models.default_chat,
                "chat_models": services.models.chat_models(),
                "encoder": services.embedder.name(),
                "can_manage": not management_refusal(s, request),
                "free_mb": round(free),
                "loaded": [{"role": r.role, "name": r.name, "spec": r.spec, "engine": r.engine, "device": r.device,
                            "quantization": r.quantization, "memory_mb": r.footprint_mb}
                           for r in services.models.reports()],
                "available": [row.as_dict(free, s.kv_cache_tokens) for row in management.available()],
            }

    gr.api(models, api_name="models")
