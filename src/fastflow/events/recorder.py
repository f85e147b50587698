"""RunRecorder: the one way anything records what a run emitted.

Executors hand it output and measurements; it numbers them into the run's log file and hands
the same events to the live fan-out. It knows nothing of the database or the web server, so
the capture side of a run can live in another process (a worker, a per-run supervisor).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from fastflow.events import types as ev
from fastflow.events.fanout import EventFanout
from fastflow.events.log import RunLogWriter
from fastflow.monitoring.counters import LOGS_CAPPED, count_dropped_log_events

# Past LOG_MAX_SIZE_MB only what ends a run is still written: errors, state changes, `complete`.
_PAST_LIMIT = frozenset({ev.ERROR, ev.COMPLETE})

LineFilter = Callable[[str], str]
# (stream, text, partial) -> text: may keep back the end of a partial fragment for the next.
FragmentFilter = Callable[[str, str, bool], str]
EventListener = Callable[[list[ev.Event]], None]
LineRelay = Callable[[bytes], None]


class EventWriter(Protocol):
    """Where a recorder persists events: numbers them (`seq`) and stores them in order."""

    @property
    def seq(self) -> int:
        """The seq of the last event written (0 before the first)."""
        ...

    @property
    def bytes_written(self) -> int:
        """Bytes persisted so far (LOG_MAX_SIZE_MB caps a run's log by it)."""
        ...

    def append(self, events: list[dict[str, Any]]) -> list[ev.Event]:
        """Number and persist one batch; returns the events with `seq` set."""
        ...

    def close(self) -> None: ...


class RunRecorder:
    """Appends a run's events to its log file and publishes them live."""

    def __init__(
        self,
        run_id: str,
        log_path: Path,
        fanout: EventFanout | None = None,
        line_filter: LineFilter | None = None,
        max_log_bytes: int | None = None,
        writer: EventWriter | None = None,
        reopen: Callable[[], EventWriter] | None = None,
        relay_to: EventListener | None = None,
        relay_lines_to: LineRelay | None = None,
    ) -> None:
        """`writer`: the log file's writer by default; a worker passes one that also sends
        to the run's Redis stream, with `reopen` making it again after a supervisor wrote the
        file (`take_back`) and `relay_to` sending what the supervisor wrote (`relay`), or
        `relay_lines_to` sending it as the file's bytes, unparsed (`line_relay`)."""
        self.run_id = run_id
        self.log_path = log_path
        self._writer: EventWriter = writer if writer is not None else RunLogWriter(log_path)
        self._reopen = reopen
        self._relay_to = relay_to
        self._relay_lines_to = relay_lines_to
        self._fanout = fanout
        self._line_filter = line_filter
        self._fragment_filter: FragmentFilter | None = None
        self._listeners: list[EventListener] = []
        # Listeners that need log-line events (the others take `[]` for a batch of lines).
        self._line_listeners = 0
        self._lock = threading.Lock()
        self._max_log_bytes = max_log_bytes
        self.log_capped = False
        self._handed_over = False
        self.dropped_events = 0
        self.last_output_at = time.monotonic()

    @property
    def seq(self) -> int:
        return self._writer.seq

    @property
    def max_log_bytes(self) -> int | None:
        """LOG_MAX_SIZE_MB in bytes (None: no cap)."""
        return self._max_log_bytes

    def handover(self) -> int:
        """Another process (the run's supervisor) appends to the log from now on.

        Closes this recorder's file; returns the byte offset where the other writer's events
        will start. Until `take_back`, recording here is an error; `relay` publishes what the
        other writer persisted.
        """
        with self._lock:
            self._writer.close()
            self._handed_over = True
            return self._writer.bytes_written

    def take_back(self) -> None:
        """The other writer is done: continue the file after its last seq."""
        with self._lock:
            self._writer = self._reopen() if self._reopen else RunLogWriter(self.log_path)
            self._handed_over = False
            if self._max_log_bytes is not None:
                # The other writer already wrote the size-limit marker if it was reached.
                self.log_capped = self._writer.bytes_written >= self._max_log_bytes

    def has_viewers(self) -> bool:
        """Whether anyone follows this run live right now (a relayed run always: the server
        takes every event)."""
        if self._relay_to is not None or self._relay_lines_to is not None:
            return True
        return self._fanout is not None and self.run_id in self._fanout.subscriber_counts()

    @property
    def line_relay(self) -> LineRelay | None:
        """Where the supervisor's lines may go as bytes, unparsed: set when nothing here
        needs them as events (no live fan-out, no listener), else None."""
        if self._relay_lines_to is None or self._fanout is not None or self._listeners:
            return None
        return self._relay_lines_to

    def relay(self, events: list[ev.Event]) -> None:
        """Publish events another process numbered and persisted (see `handover`)."""
        with self._lock:
            if self._relay_to is not None:
                self._relay_to(events)
            if self._fanout is not None:
                self._fanout.publish(self.run_id, events)
            for listener in self._listeners:
                listener(events)

    def set_filters(
        self, line_filter: LineFilter | None, fragment_filter: FragmentFilter | None = None
    ) -> None:
        """Filter output from now on (e.g. mask secrets once a run's secrets are known)."""
        self._line_filter = line_filter
        self._fragment_filter = fragment_filter

    def filter_text(self, text: str) -> str:
        """`text` through the line filter (e.g. with secrets masked)."""
        return self._line_filter(text) if self._line_filter else text

    def add_listener(self, listener: EventListener, lines: bool = True) -> None:
        """Call `listener` with every batch after it is persisted (from any thread).

        `lines=False`: it has no use for output lines as events (a wake-up, a progress
        watcher); it is called with `[]` after lines written without building events."""
        self._listeners.append(listener)
        if lines:
            self._line_listeners += 1

    def _emit(self, events: list[dict[str, Any]]) -> list[ev.Event]:
        if self._max_log_bytes is not None:
            events = self._cap(events)
        if not events:
            return events
        # stdout and stderr are captured by threads of their own: numbering, writing and
        # publishing happen under one lock, so live order is always seq order.
        with self._lock:
            if self._handed_over:
                raise RuntimeError(f"run {self.run_id}: another process writes its log now")
            self._writer.append(events)
            if self._fanout is not None:
                self._fanout.publish(self.run_id, events)
            for listener in self._listeners:
                listener(events)
        return events

    def _cap(self, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Past the size limit, drop output (the run goes on) after one marker saying so."""
        assert self._max_log_bytes is not None
        if not self.log_capped and self._writer.bytes_written < self._max_log_bytes:
            return events
        kept = [e for e in events if e["type"] in _PAST_LIMIT or _is_state_change(e)]
        dropped = len(events) - len(kept)
        if not self.log_capped:
            self.log_capped = True
            limit_mb = self._max_log_bytes / 1024 / 1024
            marker = {
                "type": ev.LOG,
                "ts": time.time(),
                "stream": "system",
                "line": f"log size limit reached (LOG_MAX_SIZE_MB={limit_mb:g}): further output "
                "of this run is not recorded; the run goes on",
                "log_capped": True,
            }
            kept.insert(0, marker)
            LOGS_CAPPED.inc()
        if dropped:
            self.dropped_events += dropped
            count_dropped_log_events(dropped)
        return kept

    def log_lines(
        self, stream: str, lines: list[tuple[str, bool]], extra: dict[str, Any] | None = None
    ) -> None:
        """Record output lines; each item is (text, partial) — partial fragments continue.

        `extra` fields go into every event (e.g. the docker executor's position in the
        container's own log, so a re-attached run knows which lines it already has).
        """
        now = time.time()
        self.last_output_at = time.monotonic()
        frag = self._fragment_filter
        line_filter = self._line_filter
        events: list[dict[str, Any]] = []
        append = events.append
        # The hot path of capture (a million lines a second): plain dict displays, no merges.
        for text, partial in lines:
            if frag is not None:
                text = frag(stream, text, partial)
            elif line_filter is not None:
                text = line_filter(text)
            event = {"type": ev.LOG, "ts": now, "stream": stream, "line": text}
            if partial:
                event["partial"] = True
            if extra:
                event.update(extra)
            append(event)
        self._emit(events)

    def log_texts(self, stream: str, texts: list[str], extra: dict[str, Any] | None = None) -> None:
        """Record whole output lines (none partial).

        When nobody needs them as events — no filter, no live viewer, no listener that wants
        lines, below the size limit — they go to the log file as JSON lines directly, with
        no event built per line; else as `log_lines` does."""
        if not texts:
            return
        writer = self._writer
        fast = (
            not extra
            and self._line_filter is None
            and self._fragment_filter is None
            and self._line_listeners == 0
            and not self.log_capped
            and isinstance(writer, RunLogWriter)
            and (self._fanout is None or self.run_id not in self._fanout.subscriber_counts())
        )
        if fast and self._max_log_bytes is not None:
            # A generous bound (escapes double a text at most): near the limit, events.
            room = self._max_log_bytes - writer.bytes_written
            fast = sum(len(t) for t in texts) * 6 + 120 * len(texts) < room
        if not fast:
            self.log_lines(stream, [(text, False) for text in texts], extra)
            return
        self.last_output_at = time.monotonic()
        with self._lock:
            if self._handed_over:
                raise RuntimeError(f"run {self.run_id}: another process writes its log now")
            if isinstance(self._writer, RunLogWriter):  # not replaced meanwhile (take_back)
                self._writer.append_log_lines(time.time(), stream, texts)
                for listener in self._listeners:
                    listener([])
                return
        self.log_lines(stream, [(text, False) for text in texts], extra)

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
            event["text"] = self.filter_text(text)
        self._emit([event])

    def metrics(self, sample: dict[str, Any]) -> None:
        self._emit([{"type": ev.METRICS, "ts": time.time(), **sample}])

    def error(self, message: str) -> None:
        self._emit([{"type": ev.ERROR, "ts": time.time(), "error": self.filter_text(message)}])

    def complete(self, **fields: Any) -> None:
        """The last event of a run; ends every live subscription after it."""
        if isinstance(fields.get("error"), str):
            fields["error"] = self.filter_text(fields["error"])
        self._emit([{"type": ev.COMPLETE, "ts": time.time(), **fields}])
        if self._fanout is not None:
            self._fanout.finish(self.run_id)

    def close(self) -> None:
        self._writer.close()


def _is_state_change(event: dict[str, Any]) -> bool:
    return event["type"] == ev.STATUS and "progress" not in event
