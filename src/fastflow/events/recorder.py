"""RunRecorder: the one way anything records what a run emitted.

Executors hand it output and measurements; it numbers them into the run's log file and hands
the same events to the live fan-out. It knows nothing of the database or the web server, so
the capture side of a run can live in another process (a worker, a per-run supervisor).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastflow.events import types as ev
from fastflow.events.fanout import EventFanout
from fastflow.events.log import RunLogWriter

LineFilter = Callable[[str], str]
EventListener = Callable[[list[ev.Event]], None]


class RunRecorder:
    """Appends a run's events to its log file and publishes them live."""

    def __init__(
        self,
        run_id: str,
        log_path: Path,
        fanout: EventFanout | None = None,
        line_filter: LineFilter | None = None,
    ) -> None:
        self.run_id = run_id
        self.log_path = log_path
        self._writer = RunLogWriter(log_path)
        self._fanout = fanout
        self._line_filter = line_filter
        self._listeners: list[EventListener] = []
        self.last_output_at = time.monotonic()

    @property
    def seq(self) -> int:
        return self._writer.seq

    def add_listener(self, listener: EventListener) -> None:
        """Call `listener` with every batch after it is persisted (e.g. progress into the DB)."""
        self._listeners.append(listener)

    def _emit(self, events: list[dict[str, Any]]) -> list[ev.Event]:
        if not events:
            return events
        self._writer.append(events)
        if self._fanout is not None:
            self._fanout.publish(self.run_id, events)
        for listener in self._listeners:
            listener(events)
        return events

    def log_lines(
        self, stream: str, lines: list[tuple[str, bool]], extra: dict[str, Any] | None = None
    ) -> None:
        """Record output lines; each item is (text, partial) — partial fragments continue.

        `extra` fields go into every event (e.g. the docker executor's position in the
        container's own log, so a re-attached run knows which lines it already has).
        """
        now = time.time()
        self.last_output_at = time.monotonic()
        flt = self._line_filter
        tail = extra or {}
        self._emit(
            [
                {"type": ev.LOG, "ts": now, "stream": stream, "line": flt(text) if flt else text}
                | ({"partial": True} if partial else {})
                | tail
                for text, partial in lines
            ]
        )

    def system(self, text: str) -> None:
        """A line from fastflow itself about the run (shown in the log, stream `system`)."""
        self.log_lines("system", [(text, False)])

    def status(
        self,
        status: str,
        progress: int | None = None,
        text: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        event: dict[str, Any] = {"type": ev.STATUS, "ts": time.time(), "status": status}
        event.update(extra or {})
        if progress is not None:
            event["progress"] = progress
            self.last_output_at = time.monotonic()
        if text:
            event["text"] = self._line_filter(text) if self._line_filter else text
        self._emit([event])

    def metrics(self, sample: dict[str, Any]) -> None:
        self._emit([{"type": ev.METRICS, "ts": time.time(), **sample}])

    def error(self, message: str) -> None:
        text = self._line_filter(message) if self._line_filter else message
        self._emit([{"type": ev.ERROR, "ts": time.time(), "error": text}])

    def complete(self, **fields: Any) -> None:
        """The last event of a run; ends every live subscription after it."""
        self._emit([{"type": ev.COMPLETE, "ts": time.time(), **fields}])
        if self._fanout is not None:
            self._fanout.finish(self.run_id)

    def close(self) -> None:
        self._writer.close()
