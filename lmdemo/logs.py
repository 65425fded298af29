"""Logging set-up, and one structured line per request.

Request lines are JSON (endpoint, session hash prefix, model, tokens, latency, error) on the
`lmdemo.requests` logger; they never hold prompt or document text unless
`--log-prompts` (`Settings.log_prompts`) is set, because a shared demo's users did not agree to
have theirs kept.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

requests_log = logging.getLogger("lmdemo.requests")
_include_prompts = False


def configure_logging(level: int = logging.INFO, log_prompts: bool = False) -> None:
    global _include_prompts
    _include_prompts = log_prompts
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("httpx", "httpx2", "httpcore", "urllib3", "bitsandbytes", "ContinuousBatchingLogger"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


@contextmanager
def request_log(endpoint: str, session: str | None = None, prompt: str | None = None) -> Iterator[dict[str, Any]]:
    """Time the block and log one JSON line for it; the caller adds model and token counts to the dict."""
    record: dict[str, Any] = {"endpoint": endpoint, "session": (session or "")[:8]}
    if prompt is not None and _include_prompts:
        record["prompt"] = prompt
    started = time.perf_counter()
    try:
        yield record
    except GeneratorExit:
        record["error"] = "cancelled"
        raise
    except Exception as error:
        record["error"] = f"{type(error).__name__}: {error}"[:300]
        raise
    finally:
        record["seconds"] = round(time.perf_counter() - started, 3)
        requests_log.info(json.dumps(record, ensure_ascii=False))
