"""Replies first: background work (embedding uploaded documents, the chat model reading a CSV's rows)
steps aside while a reply is generated.

On a 2-core machine the encoder and the chat model share the cores: a question asked while 150 papers
were being embedded took 32 s to answer instead of a few (bench/ingest.py). Background work goes in
steps (a batch of passages or rows) that start only while no reply is generating, and a reply lets the
step under way finish before it starts: llama.cpp's threads beside the encoder's slowed the first
answer's prompt by about 2 s on 2 cores, more than the step had left.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

PATIENCE = 30.0  # seconds background work waits for replies to finish before it goes on anyway
STEP_WAIT = 10.0  # seconds a reply waits at most for the background step under way


class Foreground:
    """Counts replies being generated and background steps under way; each side waits for the other."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._active = 0
        self._stepping = 0

    @contextmanager
    def active(self) -> Iterator[None]:
        """A reply: no background step starts until it ends, and the one under way ends first."""
        with self._changed:
            self._active += 1
            self._changed.wait_for(lambda: self._stepping == 0, timeout=STEP_WAIT)
        try:
            yield
        finally:
            with self._changed:
                self._active -= 1
                self._changed.notify_all()

    @contextmanager
    def step(self, patience: float = PATIENCE) -> Iterator[None]:
        """One step of background work, begun once no reply is being generated (or after `patience`)."""
        with self._changed:
            self._changed.wait_for(lambda: self._active == 0, timeout=patience)
            self._stepping += 1
        try:
            yield
        finally:
            with self._changed:
                self._stepping -= 1
                self._changed.notify_all()
