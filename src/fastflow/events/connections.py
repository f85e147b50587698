"""Open stream connections: the per-user cap and the live-viewer counts of `GET /api/streams`.

Counted here rather than from fan-out subscriptions because a viewer that is catching up from
the log file has no subscription for a moment, yet is connected all along.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from fastflow.errors import FastflowError


class TooManyStreamsError(FastflowError):
    """A user has as many stream connections open as allowed."""

    status_code = 429


@dataclass
class StreamLease:
    """One open connection; `release()` is idempotent (called from every exit path)."""

    registry: StreamRegistry
    run_id: str | None
    user: str
    transport: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.registry._release(self)


class StreamRegistry:
    """Counts open SSE and WebSocket connections per user and per run."""

    def __init__(self, max_per_user: int) -> None:
        self.max_per_user = max_per_user
        self._lock = threading.Lock()
        self._by_user: Counter[str] = Counter()
        self._by_run: dict[str, Counter[str]] = {}

    def open(self, run_id: str | None, user: str, transport: str) -> StreamLease:
        """Register a connection, or raise TooManyStreamsError when the user is at the cap.

        `run_id` None: a stream of no single run (the job feed); it counts for the cap only."""
        with self._lock:
            if self._by_user[user] >= self.max_per_user:
                raise TooManyStreamsError(
                    f"too many open streams: user {user!r} already has {self._by_user[user]} "
                    f"(the limit is {self.max_per_user}); close one and retry"
                )
            self._by_user[user] += 1
            if run_id is not None:
                self._by_run.setdefault(run_id, Counter())[transport] += 1
        return StreamLease(self, run_id, user, transport)

    def _release(self, lease: StreamLease) -> None:
        with self._lock:
            self._by_user[lease.user] -= 1
            if self._by_user[lease.user] <= 0:
                del self._by_user[lease.user]
            run_id = lease.run_id
            per_run = self._by_run.get(run_id) if run_id is not None else None
            if run_id is not None and per_run is not None:
                per_run[lease.transport] -= 1
                if per_run.total() <= 0:
                    del self._by_run[run_id]

    def runs(self) -> list[dict[str, object]]:
        """Runs with viewers: `run_id`, `clients`, and the count per transport."""
        with self._lock:
            return [
                {
                    "run_id": run_id,
                    "clients": counts.total(),
                    "sse": counts["sse"],
                    "websocket": counts["websocket"],
                }
                for run_id, counts in sorted(self._by_run.items())
            ]
