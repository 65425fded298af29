"""Fewer, larger streaming updates: a browser needs a few a second, not one per token.

Every update Gradio sends costs the server's Python time (diffing, JSON, the event loop), and
that time is taken from the batching loop that generates for everyone; with eight users
streaming, per-token updates would cost more than the tokens themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


def throttled(updates: Iterator[T], interval: float = 0.1, is_last: Callable[[T], bool] = lambda _: False) -> Iterator[T]:
    """Pass on at most one update per `interval` seconds, always the newest, and always the last one."""
    last_sent = 0.0
    pending: T | None = None
    have_pending = False
    try:
        for update in updates:
            now = time.perf_counter()
            if is_last(update) or now - last_sent >= interval:
                yield update
                last_sent = now
                have_pending = False
            else:
                pending, have_pending = update, True
        if have_pending:
            yield pending  # type: ignore[misc]
    finally:
        close = getattr(updates, "close", None)
        if close is not None:
            close()
