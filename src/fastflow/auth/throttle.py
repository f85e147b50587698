"""Login throttling: too many failed logins per username or per client address → 429.

Counts live in this process's memory: with several server processes each counts on its own
(the embedded server is one process). Entries expire with their window; the number of keys
tracked is capped so a flood of made-up usernames cannot grow memory without bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from fastflow.errors import FastflowError

MAX_KEYS = 10_000


class TooManyAttemptsError(FastflowError):
    status_code = 429

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoginThrottle:
    """Sliding window of failure times per key ("user:<name>", "addr:<ip>")."""

    def __init__(
        self,
        max_per_user: int,
        max_per_address: int,
        window_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limits = {"user": max_per_user, "addr": max_per_address}
        self._window = window_seconds
        self._clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str | None) -> list[tuple[str, int]]:
        keys = [(f"user:{username.lower()}", self._limits["user"])]
        if address:
            keys.append((f"addr:{address}", self._limits["addr"]))
        return keys

    def check(self, username: str, address: str | None) -> None:
        """Raise TooManyAttemptsError while either key is over its limit."""
        now = self._clock()
        with self._lock:
            wait = 0.0
            for key, limit in self._keys(username, address):
                times = self._recent(key, now)
                if times is not None and len(times) >= limit:
                    wait = max(wait, times[-limit] + self._window - now)
        if wait > 0:
            raise TooManyAttemptsError(
                "too many failed logins; try again later", retry_after=max(1, math.ceil(wait))
            )

    def failed(self, username: str, address: str | None) -> None:
        now = self._clock()
        with self._lock:
            for key, limit in self._keys(username, address):
                times = self._recent(key, now) or deque(maxlen=limit)
                times.append(now)
                self._failures[key] = times
                self._failures.move_to_end(key)
            while len(self._failures) > MAX_KEYS:
                self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        """A correct password clears the user's count (not the address's)."""
        with self._lock:
            self._failures.pop(f"user:{username.lower()}", None)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times
