"""Pages of run logs shared by every viewer catching up from the file.

A viewer that joins late, reconnects, or falls behind the live fan-out reads the past from the
log file. Forty viewers of one busy run would otherwise each parse (and the encoder encode)
the same million lines. Reads are therefore aligned to pages of `PAGE_EVENTS` seqs; a complete
page is parsed once and kept (bounded, least recently used), and since viewers get the very
same list for a page, the stream encoder shares its encoding too.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from fastflow.events.log import read_events
from fastflow.events.types import Event

PAGE_EVENTS = 1000


class LogPages:
    """Reads a log by seq in page-aligned chunks; complete pages are cached and shared."""

    def __init__(self, max_pages: int = 48, page_events: int = PAGE_EVENTS) -> None:
        self._max = max_pages
        self._size = page_events
        self._pages: OrderedDict[tuple[str, int], list[Event]] = OrderedDict()
        self._lock = threading.Lock()

    def read(self, path: Path, start: int, until: int | None = None) -> tuple[list[Event], bool]:
        """Events from seq `start` to the end of its page (or `until`); and whether the file
        ended within that page (nothing more to read for now)."""
        page = (start - 1) // self._size
        first = page * self._size + 1
        last = first + self._size - 1
        key = (str(path), page)
        with self._lock:
            events = self._pages.get(key)
            if events is not None:
                self._pages.move_to_end(key)
        if events is None:
            events = list(read_events(path, first, last))
            complete = len(events) == self._size
            if complete and self._max > 0:
                with self._lock:
                    self._pages[key] = events
                    while len(self._pages) > self._max:
                        self._pages.popitem(last=False)
        at_end = len(events) < self._size
        if start > first or (until is not None and until < last):
            events = [
                e for e in events if e["seq"] >= start and (until is None or e["seq"] <= until)
            ]
        return events, at_end
