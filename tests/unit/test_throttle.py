"""Streaming updates are thinned to a rate a browser needs, never losing the newest or the last."""

from __future__ import annotations

import time

from lmdemo.ui.throttle import throttled


def _slow(n: int, delay: float):
    for i in range(n):
        time.sleep(delay)
        yield i


def test_fast_updates_are_thinned_but_the_newest_and_last_survive() -> None:
    got = list(throttled(iter(range(1000)), interval=0.05))
    assert got[0] == 0 and got[-1] == 999
    assert len(got) < 10


def test_slow_updates_all_pass() -> None:
    assert list(throttled(_slow(5, 0.02), interval=0.01)) == [0, 1, 2, 3, 4]


def test_the_marked_last_update_is_sent_at_once() -> None:
    got = list(throttled(iter([1, 2, 3, "done"]), interval=10, is_last=lambda u: u == "done"))
    assert got == [1, "done"]


def test_closing_the_throttle_closes_the_source() -> None:
    closed = []

    def source():
        try:
            yield from range(100)
        finally:
            closed.append(True)

    stream = throttled(source(), interval=10)
    next(stream)
    stream.close()
    assert closed == [True]
