"""One viewer's view of a run: the past from the log file, then live, without gap or repeat.

Transport-independent: SSE and WebSocket routes iterate `RunEventStream.items()` and only
encode what it yields. The order of operations is what makes it exact:

1. subscribe to the fan-out first, so every event appended from now on is buffered;
2. read the log file from the client's cursor up to its end (the past);
3. deliver live batches, skipping what the file already gave (seq <= cursor) and reading
   from the file whatever the buffer lacks (seq > cursor + 1).

A viewer that falls behind overflows its bounded buffer; it then re-subscribes and catches up
from the file, so a slow viewer costs disk reads, never the run's speed or other viewers' lines.

The per-client rate limit applies to `log` events only: lines over it are skipped and named in
a `Gap` (an exact, contiguous seq range of log lines, fetchable from the REST logs route).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from fastflow.events import types as ev
from fastflow.events.fanout import EventFanout, Subscription
from fastflow.events.pages import LogPages

GAP_MAX_AGE = 1.0
"""An open gap is announced at least this often (seconds) while lines keep being skipped."""


@dataclass
class Batch:
    """Events to deliver, in seq order."""

    events: list[ev.Event]


@dataclass
class Gap:
    """Log lines `from_seq..to_seq` (inclusive, all of them log lines) were not delivered."""

    from_seq: int
    to_seq: int
    count: int = 1
    opened_at: float = field(default=0.0, compare=False)


StreamItem = Batch | Gap | None
"""A batch, a gap, or None: nothing happened for one tick (time for a keep-alive)."""


class TokenBucket:
    """`rate` tokens per second, holding at most one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._tokens = rate
        self._at = clock()

    def take(self) -> bool:
        now = self._clock()
        self._tokens = min(self.rate, self._tokens + (now - self._at) * self.rate)
        self._at = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False


RunFinished = Callable[[], Awaitable[bool]]


class RunEventStream:
    """Events of one run after seq `since`, for one viewer."""

    def __init__(
        self,
        run_id: str,
        log_path: Path,
        fanout: EventFanout,
        *,
        since: int = 0,
        rate_limit: float | None = None,
        tick: float = 15.0,
        pages: LogPages | None = None,
        run_finished: RunFinished | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.run_id = run_id
        self.log_path = log_path
        self.cursor = since
        """The last seq delivered or announced in a gap; a reconnect resumes after it."""
        self.done = False
        """True once `complete` was delivered (or the run ended without one)."""
        self._fanout = fanout
        self._limiter = TokenBucket(rate_limit, clock) if rate_limit else None
        self._tick = tick
        self._pages = pages if pages is not None else LogPages(max_pages=0)
        self._run_finished = run_finished
        self._clock = clock
        self._gap: Gap | None = None

    async def items(self) -> AsyncIterator[StreamItem]:
        """Batches and gaps up to and including `complete`; None on each quiet tick."""
        sub = self._fanout.subscribe(self.run_id)
        try:
            while not self.done:
                async for item in self._catch_up():
                    yield item
                async for item in self._live(sub):
                    yield item
                sub.close()
                if not self.done and not sub.overflowed:
                    # The fan-out ended the run's feed: whatever is left is in the file.
                    async for item in self._catch_up():
                        yield item
                    self.done = True
                if not self.done:
                    sub = self._fanout.subscribe(self.run_id)  # overflowed: resubscribe first
            if self._gap is not None:
                yield self._close_gap()
        finally:
            sub.close()

    async def _live(self, sub: Subscription) -> AsyncIterator[StreamItem]:
        """Live batches until `complete`, the feed's end, or an overflow of its buffer."""
        while not self.done:
            batch = await sub.get(timeout=self._tick)
            if batch is None:
                return
            if not batch:
                if self._gap is not None:
                    yield self._close_gap()
                yield None
                if self._run_finished is not None and await self._run_finished():
                    # A run that ended without a live `complete` (e.g. settled elsewhere).
                    async for item in self._catch_up():
                        yield item
                    self.done = True
                continue
            if batch[-1]["seq"] <= self.cursor:
                continue  # the file gave these already
            first = next(e["seq"] for e in batch if e["seq"] > self.cursor)
            if first > self.cursor + 1:
                # Defensive: never skip what the buffer lacks; the file has it.
                async for item in self._catch_up(until=first - 1):
                    yield item
            for item in self._deliver(batch):
                yield item

    async def _catch_up(self, until: int | None = None) -> AsyncIterator[StreamItem]:
        """Events after the cursor from the file, in chunks, up to `until` or its end."""
        while not self.done:
            start = self.cursor + 1
            if until is not None and start > until:
                return
            chunk, at_end = await asyncio.to_thread(self._pages.read, self.log_path, start, until)
            for item in self._deliver(chunk):
                yield item
            if at_end or not chunk:
                return

    def _deliver(self, events: list[ev.Event]) -> Iterator[Batch | Gap]:
        """Apply cursor, rate limit and gap bookkeeping to events in seq order."""
        if not events or self.done:
            return
        if self._limiter is None and self._gap is None and events[0]["seq"] == self.cursor + 1:
            # The common case, per viewer and batch, not per line: the batch follows on from
            # the cursor and nothing is limited, so it goes out whole — the very list the
            # fan-out handed every viewer, which lets the encoder share one encoding.
            # `complete` is always the last event of a run, so only the last can be it.
            self.cursor = events[-1]["seq"]
            self.done = events[-1]["type"] == ev.COMPLETE
            yield Batch(events)
            return
        out: list[ev.Event] = []
        limiter = self._limiter
        for event in events:
            seq = event["seq"]
            if seq <= self.cursor or self.done:
                continue
            self.cursor = seq
            if limiter is not None and event["type"] == ev.LOG and not limiter.take():
                if self._gap is None:
                    self._gap = Gap(seq, seq, 1, self._clock())
                else:
                    self._gap.to_seq = seq
                    self._gap.count += 1
                continue
            if self._gap is not None:
                # Announce the gap before anything after it, so seqs stay in order.
                if out:
                    yield Batch(out)
                    out = []
                yield self._close_gap()
            out.append(event)
            if event["type"] == ev.COMPLETE:
                self.done = True
        if out:
            yield Batch(out)
        if self._gap is not None and (
            self.done or self._clock() - self._gap.opened_at >= GAP_MAX_AGE
        ):
            yield self._close_gap()

    def _close_gap(self) -> Gap:
        gap, self._gap = self._gap, None
        assert gap is not None
        return gap
