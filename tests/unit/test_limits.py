"""The per-session rate limit: a sliding one-minute window per session, sessions independent."""

from __future__ import annotations

import pytest

from lmdemo.limits import RateLimiter, RateLimitError


def test_the_window_slides_and_sessions_are_independent() -> None:
    limiter = RateLimiter(per_minute=3)
    for t in (0.0, 1.0, 2.0):
        limiter.check("alice", now=t)
    with pytest.raises(RateLimitError, match=r"at most 3 a minute.*58 s"):
        limiter.check("alice", now=2.5)
    limiter.check("bob", now=2.5)
    limiter.check("alice", now=60.5)  # the request at t=0 has left the window


def test_zero_means_no_limit_and_old_sessions_are_forgotten() -> None:
    unlimited = RateLimiter(per_minute=0)
    for _ in range(1000):
        unlimited.check("alice")
    small = RateLimiter(per_minute=1, max_keys=2)
    small.check("a", now=0)
    small.check("b", now=0)
    small.check("c", now=0)  # "a" is dropped to keep at most two sessions
    small.check("a", now=1)
    with pytest.raises(RateLimitError):
        small.check("c", now=1)
