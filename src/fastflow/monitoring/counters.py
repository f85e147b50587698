"""Process-wide counters that any module may increment without a handle on the server.

`/metrics` (fastflow.monitoring) exposes them. They live apart from prometheus-client so the
hot paths (event recording, live streams) pay one locked integer add, and so code that runs
outside the web server (a worker, a per-run supervisor) can count without a registry.
"""

from __future__ import annotations

import threading


class Counter:
    """A monotonic, thread-safe integer."""

    def __init__(self, name: str, documentation: str) -> None:
        self.name = name
        self.documentation = documentation
        self._value = 0
        self._lock = threading.Lock()

    def inc(self, amount: int = 1) -> None:
        with self._lock:
            self._value += amount

    @property
    def value(self) -> int:
        return self._value


STREAM_GAP_LINES = Counter(
    "fastflow_stream_gap_lines",
    "Lines live-stream clients skipped and were told about with a `gap` event",
)
STREAM_GAP_EVENTS = Counter("fastflow_stream_gap_events", "`gap` events sent to stream clients")
LOG_EVENTS_DROPPED = Counter(
    "fastflow_log_events_dropped",
    "Events not written because a run's log reached LOG_MAX_SIZE_MB",
)
LOGS_CAPPED = Counter("fastflow_logs_capped", "Run logs that reached LOG_MAX_SIZE_MB")

ALL_COUNTERS = (STREAM_GAP_LINES, STREAM_GAP_EVENTS, LOG_EVENTS_DROPPED, LOGS_CAPPED)


def count_gap(lines: int) -> None:
    """Call from the live-stream code when a client is sent a `gap` of `lines` skipped seqs."""
    STREAM_GAP_EVENTS.inc()
    STREAM_GAP_LINES.inc(lines)


def count_dropped_log_events(events: int) -> None:
    """Called by the recorder for events dropped past LOG_MAX_SIZE_MB."""
    LOG_EVENTS_DROPPED.inc(events)
