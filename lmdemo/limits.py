"""Limits that keep a shared demo usable: the per-session request rate, and how long a prompt can be."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager

from lmdemo.errors import ServerBusyError, UserError

MAX_CHARS_PER_TOKEN = 16  # no tokenizer packs more into a token: longer text cannot fit the token limit


class RateLimitError(UserError):
    """The session sent more requests in the last minute than the settings allow."""


class RateLimiter:
    """At most `per_minute` requests per key (the Gradio session) in any 60-second window.

    Holds only timestamps, for at most `max_keys` recent sessions (oldest dropped first).
    """

    def __init__(self, per_minute: int, max_keys: int = 10_000) -> None:
        self._per_minute = per_minute
        self._max_keys = max_keys
        self._seen: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str, now: float | None = None) -> None:
        """Count one request for `key`; raise RateLimitError if it is one too many."""
        if self._per_minute <= 0 or not key:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            stamps = self._seen.pop(key, None) or deque()
            while stamps and now - stamps[0] >= 60.0:
                stamps.popleft()
            self._seen[key] = stamps
            while len(self._seen) > self._max_keys:
                self._seen.popitem(last=False)
            if len(stamps) >= self._per_minute:
                wait = 60.0 - (now - stamps[0])
                raise RateLimitError(
                    f"Too many requests: at most {self._per_minute} a minute per user. "
                    f"Try again in {max(1, round(wait))} s.",
                    f"请求太多：每人每分钟最多 {self._per_minute} 次。请 {max(1, round(wait))} 秒后再试。",
                )
            stamps.append(now)


class Slots:
    """At most `running + waiting` chat requests in the server at once; one more is told to retry."""

    def __init__(self, running: int, waiting: int) -> None:
        self._running, self._waiting = running, waiting
        self._free = threading.BoundedSemaphore(running + waiting)

    @contextmanager
    def take(self) -> Iterator[None]:
        """Hold a slot for the block; ServerBusyError when every slot is taken."""
        if not self._free.acquire(blocking=False):
            raise ServerBusyError(
                f"The server is busy ({self._running} replies running and {self._waiting} waiting). "
                "Please try again in a moment.",
                f"服务器正忙（{self._running} 个回复在生成，{self._waiting} 个在等待）。请稍后再试。",
            )
        try:
            yield
        finally:
            self._free.release()
