"""build_app: the page with its header and tabs, plus the options `launch` needs."""

from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from lmdemo.api.openai import build_router, exception_handlers
from lmdemo.settings import auth_users
from lmdemo.ui.chat import build_chat_tab, model_choices
from lmdemo.ui.docqa import build_docqa_tab
from lmdemo.ui.i18n import I18N, t
from lmdemo.ui.compare import build_compare_tab
from lmdemo.ui.lab import build_lab_tab
from lmdemo.ui.models import build_models_tab
from lmdemo.ui.playground import build_playground_tab

if TYPE_CHECKING:
    from lmdemo.services import Services

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def build_app(services: "Services") -> gr.Blocks:
    """The whole page; every per-user value lives in Gradio session state, none in globals."""
    # Uploads are deleted as soon as they are read; delete_cache sweeps any left unread after an hour.
    with gr.Blocks(title="lmdemo", fill_height=True, analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        logo = (ASSETS / "logo.svg").read_text().replace('width="64" height="64"', 'width="36" height="36"')
        gr.HTML(
            f'<div class="lm-header">{logo}'
            "<div><h1>lmdemo</h1><p>" + t("header.tagline") + "</p></div></div>"
        )
        with gr.Tabs():
            with gr.Tab(t("tab.chat"), id="chat") as chat_tab:
                chat_model = build_chat_tab(services, chat_tab)
            with gr.Tab(t("tab.docqa"), id="docqa"):
                build_docqa_tab(services)
            with gr.Tab(t("tab.playground"), id="playground"):
                build_playground_tab(services)
            with gr.Tab(t("tab.lab"), id="lab"):
                build_lab_tab(services)
            with gr.Tab(t("tab.compare"), id="compare") as compare_tab:
                build_compare_tab(services, compare_tab)
            with gr.Tab(t("tab.models"), id="models") as models_tab:
                build_models_tab(services, models_tab)
        demo.load(lambda: model_choices(services), None, chat_model, api_visibility="private")
    s = services.settings
    # Chat requests must reach the batching scheduler together (it bounds them itself); the
    # heavy one-off jobs (ingest, fine-tuning) set their own, lower limits.
    demo.queue(default_concurrency_limit=s.max_running + s.max_waiting, max_size=2 * (s.max_running + s.max_waiting))
    return demo


def launch_options(services: "Services") -> dict[str, Any]:
    """Keyword arguments for `Blocks.launch` shared by app.py and the tests."""
    s = services.settings
    return {
        "server_name": s.host,
        "server_port": s.port,
        "share": s.share,
        "theme": gr.themes.Soft(primary_hue="indigo"),
        "css_paths": [ASSETS / "style.css"],
        "favicon_path": str(ASSETS / "logo.svg"),
        "show_error": True,
        "app_kwargs": {"routes": build_router(services).routes, "exception_handlers": exception_handlers()},
        "auth": auth_users(s.auth) or None,
        "auth_message": "This lmdemo needs a login. 这个 lmdemo 需要登录。" if s.auth else None,  # before any page
        "i18n": I18N,
        "max_file_size": f"{s.max_upload_mb:g}mb",
    }
