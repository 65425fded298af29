"""Replies and background steps take turns on the cores."""

from __future__ import annotations

import threading

from lmdemo.models.priority import Foreground


def test_a_reply_lets_the_background_step_under_way_finish_before_it_starts() -> None:
    foreground, order = Foreground(), []
    stepping, release = threading.Event(), threading.Event()

    def background() -> None:
        with foreground.step():
            stepping.set()
            release.wait(5)
            order.append("step ended")

    def reply() -> None:
        with foreground.active():
            order.append("reply started")

    steps = threading.Thread(target=background)
    steps.start()
    assert stepping.wait(5)
    replying = threading.Thread(target=reply)
    replying.start()
    replying.join(0.3)
    assert replying.is_alive() and order == [], "the reply waits for the step"
    release.set()
    replying.join(5)
    steps.join(5)
    assert order == ["step ended", "reply started"]


def test_no_step_starts_while_a_reply_is_generated_until_patience_runs_out() -> None:
    foreground, started = Foreground(), threading.Event()

    def background(patience: float) -> None:
        with foreground.step(patience):
            started.set()

    with foreground.active():
        waiting = threading.Thread(target=background, args=(30.0,))
        waiting.start()
        assert not started.wait(0.3), "a reply is generating: the step waits"
    assert started.wait(5), "the reply ended: the step goes"
    waiting.join(5)

    started.clear()
    with foreground.active():
        impatient = threading.Thread(target=background, args=(0.0,))
        impatient.start()
        assert started.wait(5), "out of patience, the step goes anyway"
    impatient.join(5)
