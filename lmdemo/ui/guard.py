"""What every UI and API handler does around its work: rate limit, one log line, clear errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import gradio as gr

from lmdemo.errors import UserError
from lmdemo.logs import request_log
from lmdemo.ui.i18n import told

if TYPE_CHECKING:
    from lmdemo.services import Services


@contextmanager
def guard(services: "Services", endpoint: str, request: gr.Request | None, prompt: str | None = None) -> Iterator[dict[str, Any]]:
    """Count the request against its session's rate limit, log it, and show UserErrors as gr.Error."""
    session = getattr(request, "session_hash", None) or ""
    with request_log(endpoint, session, prompt) as record:
        try:
            services.limiter.check(session)
            yield record
        except UserError as error:
            raise gr.Error(told(request, error)) from error
