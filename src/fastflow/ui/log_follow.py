"""Follow one run's events for a console page: the recent past, then live.

A thin adapter over `RunEventStream`, the one follow engine SSE, WebSocket and the CLI use:
it gives exactly-once delivery across the file and the live feed and resumes from the file
after an overflow. What is the page's own is the buffer: log lines wait in a bounded buffer
that the page drains a few hundred at a time; when lines arrive faster than that, the oldest
waiting ones are dropped and reported as a `Gap` (a seq range the page links to), never
silently. A page opened on a long log starts with its recent past and marks the rest.

Independent of NiceGUI, so it is tested on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastflow.events import types as ev
from fastflow.events.fanout import EventFanout
from fastflow.events.log import last_seq
from fastflow.events.stream import Batch, RunEventStream
from fastflow.events.stream import Gap as StreamGap


@dataclass(frozen=True)
class Gap:
    """Log events in [first_seq, last_seq] that were not shown (fetch them by seq)."""

    first_seq: int
    last_seq: int
    lines: int | None  # None when not counted (skipped history)


@dataclass
class Drained:
    """What a page takes from the follower on one timer tick."""

    items: list[Event | Gap] = field(default_factory=list)
    metrics: list[Event] = field(default_factory=list)
    status: Event | None = None
    complete: Event | None = None


Event = dict[str, Any]


class LogFollower:
    """Buffers one run's events for a page; `drain()` hands out a bounded batch per tick."""

    def __init__(
        self,
        fanout: EventFanout,
        run_id: str,
        log_path: Path,
        history_lines: int = 1000,
        max_pending: int = 2000,
    ) -> None:
        self.fanout = fanout
        self.run_id = run_id
        self.log_path = log_path
        self.history_lines = history_lines
        self.max_pending = max_pending
        self.next_seq = 1
        self.finished = False
        self._pending: deque[Event | Gap] = deque()
        self._pending_lines = 0
        self._metrics: list[Event] = []
        self._status: Event | None = None
        self._complete: Event | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin following in the background (call from the event loop)."""
        self._task = asyncio.create_task(self._follow(), name=f"ui-follow-{self.run_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def drain(self, max_lines: int) -> Drained:
        """Up to `max_lines` log lines (and any gap markers), plus status and new metrics."""
        out = Drained(metrics=self._metrics, status=self._status, complete=self._complete)
        self._metrics, self._status = [], None
        taken = 0
        while self._pending and taken < max_lines:
            item = self._pending.popleft()
            if not isinstance(item, Gap):
                taken += 1
                self._pending_lines -= 1
            out.items.append(item)
        if self._complete is not None and not self._pending:
            self._complete = None  # handed out once, after the last line
        else:
            out.complete = None
        return out

    async def _follow(self) -> None:
        since = await asyncio.to_thread(self._history_start)
        if since > 0:
            self._add_gap(Gap(1, since, None))
        stream = RunEventStream(self.run_id, self.log_path, self.fanout, since=since, tick=5.0)
        async for item in stream.items():
            if isinstance(item, Batch):
                self._take(item.events)
            elif isinstance(item, StreamGap):  # not produced without a rate limit
                self._add_gap(Gap(item.from_seq, item.to_seq, item.count))
        self.finished = True

    def _history_start(self) -> int:
        """Where a page opened now starts: the recent past only (metrics and status events
        sit between the lines, so the window is generous)."""
        if not self.log_path.exists():
            return 0
        return max(0, last_seq(self.log_path) - self.history_lines * 3)

    def _take(self, events: list[Event]) -> None:
        for event in events:
            seq = int(event["seq"])
            if seq < self.next_seq:
                continue  # already seen (read from the file and delivered live too)
            self.next_seq = seq + 1
            kind = event.get("type")
            if kind == ev.LOG:
                self._add_line(event)
            elif kind == ev.METRICS:
                self._metrics.append(event)
            elif kind == ev.STATUS:
                self._status = event
            elif kind == ev.ERROR:
                self._add_line({**event, "stream": "system", "line": f"error: {event['error']}"})
            elif kind == ev.COMPLETE:
                self._complete = event
                self.finished = True

    def _add_line(self, event: Event) -> None:
        self._pending.append(event)
        self._pending_lines += 1
        if self._pending_lines > self.max_pending:
            self._drop_oldest()

    def _drop_oldest(self) -> None:
        """Drop the oldest waiting lines (a fifth of the buffer), leaving one gap marker."""
        drop = max(1, self.max_pending // 5)
        first: int | None = None
        last = 0
        dropped = 0
        counted: int | None = 0
        while self._pending and dropped < drop:
            item = self._pending.popleft()
            if isinstance(item, Gap):  # an older marker at the front merges into this one
                first = item.first_seq if first is None else first
                last = item.last_seq
                counted = None if item.lines is None or counted is None else counted + item.lines
                continue
            seq = int(item["seq"])
            first = seq if first is None else first
            last = seq
            dropped += 1
            counted = None if counted is None else counted + 1
            self._pending_lines -= 1
        self._pending.appendleft(Gap(first or last, last, counted))

    def _add_gap(self, gap: Gap) -> None:
        if gap.last_seq >= gap.first_seq:
            self._pending.append(gap)
