"""Replies first: background work (embedding uploaded documents, the chat model reading a CSV's rows)
steps aside while a reply is generated.

On a 2-core machine the encoder and the chat model share the cores: a question asked while 150 papers
were being embedded took 32 s to answer instead of a few (bench/ingest.py).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

PATIENCE = 30.0  # seconds background work waits for replies to finish before it goes on anyway


class Foreground:
    """Counts replies being generated; background work waits for none (or for `patience`)."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._active = 0

    @contextmanager
    def active(self) -> Iterator[None]:
        with self._changed:
            self._active += 1
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    def wait_idle(self, patience: float) -> bool:
        """Block until no reply is being generated, or `patience` seconds (background work must progress too)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._active == 0, timeout=patience)
