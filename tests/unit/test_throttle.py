"""Login throttling with a controllable clock."""

from __future__ import annotations

import pytest

from fastflow.auth.throttle import MAX_KEYS, LoginThrottle, TooManyAttemptsError


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_locks_after_limit_and_recovers_after_window() -> None:
    clock = Clock()
    t = LoginThrottle(3, 100, 60, clock)
    for _ in range(3):
        t.check("bob", "1.2.3.4")
        t.failed("bob", "1.2.3.4")
    with pytest.raises(TooManyAttemptsError) as err:
        t.check("bob", "5.6.7.8")  # per user, from any address
    assert err.value.retry_after == 60
    clock.now += 30
    with pytest.raises(TooManyAttemptsError) as err:
        t.check("BOB", None)
    assert err.value.retry_after == 30
    clock.now += 31
    t.check("bob", "1.2.3.4")


def test_per_address_and_success_clears_user() -> None:
    t = LoginThrottle(2, 3, 60, Clock())
    t.failed("a", "9.9.9.9")
    t.succeeded("a")
    t.check("a", None)
    t.failed("b", "9.9.9.9")
    t.failed("c", "9.9.9.9")
    with pytest.raises(TooManyAttemptsError):
        t.check("d", "9.9.9.9")


def test_memory_is_bounded() -> None:
    t = LoginThrottle(5, 5, 60, Clock())
    for i in range(MAX_KEYS + 50):
        t.failed(f"user{i}", None)
    assert len(t._failures) <= MAX_KEYS
