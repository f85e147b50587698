"""In-process fan-out: the embedded default. Bounded per-subscriber buffers, never blocking."""

from __future__ import annotations

import asyncio
import threading
from collections import deque

from fastflow.events.types import Event


class MemorySubscription:
    """A bounded buffer of batches; a slow reader overflows instead of slowing the run."""

    def __init__(self, fanout: MemoryFanout, run_id: str, max_events: int) -> None:
        self.run_id = run_id
        self._fanout = fanout
        self._loop = asyncio.get_running_loop()
        self._batches: deque[list[Event]] = deque()
        self._buffered = 0
        self._max_events = max_events
        self._ready = asyncio.Event()
        self._ended = False
        self._overflowed = False

    @property
    def overflowed(self) -> bool:
        return self._overflowed

    def _push(self, events: list[Event]) -> None:
        if self._ended:
            return
        if self._buffered + len(events) > self._max_events:
            self._overflowed = True  # the reader resumes from the file by seq
        else:
            self._batches.append(events)
            self._buffered += len(events)
        self._ready.set()

    def _end(self) -> None:
        self._ended = True
        self._ready.set()

    async def get(self, timeout: float | None = None) -> list[Event] | None:
        while not self._batches:
            if self._ended or self._overflowed:
                return None
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), timeout)
            except TimeoutError:
                return []
        batch = self._batches.popleft()
        self._buffered -= len(batch)
        return batch

    def close(self) -> None:
        self._ended = True
        self._fanout._remove(self)


class MemoryFanout:
    """Fan-out within one process; `publish` may be called from any thread."""

    def __init__(self, max_buffered_events: int = 20_000) -> None:
        self._subs: dict[str, set[MemorySubscription]] = {}
        self._lock = threading.Lock()
        self._max = max_buffered_events

    def subscribe(self, run_id: str) -> MemorySubscription:
        sub = MemorySubscription(self, run_id, self._max)
        with self._lock:
            self._subs.setdefault(run_id, set()).add(sub)
        return sub

    def _remove(self, sub: MemorySubscription) -> None:
        with self._lock:
            subs = self._subs.get(sub.run_id)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[sub.run_id]

    def _each(self, run_id: str) -> list[MemorySubscription]:
        with self._lock:
            return list(self._subs.get(run_id, ()))

    def publish(self, run_id: str, events: list[Event]) -> None:
        for sub in self._each(run_id):
            _call_in_loop(sub._loop, sub._push, events)

    def finish(self, run_id: str) -> None:
        for sub in self._each(run_id):
            _call_in_loop(sub._loop, sub._end)

    def subscriber_counts(self) -> dict[str, int]:
        with self._lock:
            return {run_id: len(subs) for run_id, subs in self._subs.items() if subs}


def _call_in_loop(loop: asyncio.AbstractEventLoop, fn: object, *args: object) -> None:
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        fn(*args)  # type: ignore[operator]
    elif not loop.is_closed():
        loop.call_soon_threadsafe(fn, *args)  # type: ignore[arg-type]
