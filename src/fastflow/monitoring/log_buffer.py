"""The server's own recent log records, numbered, for watching fastflow live from a browser.

A logging handler on the root logger keeps the last `capacity` records as formatted text with
a sequence number and wakes whoever waits for more (from any thread). It keeps records as
they were logged; whoever shows them masks what must not be shown.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogBuffer(logging.Handler):
    def __init__(self, capacity: int = 1000, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter(FORMAT))
        self._records: deque[tuple[int, str]] = deque(maxlen=capacity)
        self._seq = 0
        self._guard = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    @property
    def last_seq(self) -> int:
        return self._seq

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted is not worth a crash
            return
        with self._guard:
            self._seq += 1
            self._records.append((self._seq, text))
            waiters = list(self._waiters)
        for loop, event in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(event.set)

    def after(self, seq: int) -> list[tuple[int, str]]:
        """Records after `seq` still held (older ones have been dropped)."""
        with self._guard:
            return [r for r in self._records if r[0] > seq]

    async def wait(self, seq: int, timeout: float) -> bool:
        """Wait until a record after `seq` exists; False after `timeout` without one."""
        event = asyncio.Event()
        waiter = (asyncio.get_running_loop(), event)
        with self._guard:
            if self._seq > seq:
                return True
            self._waiters.add(waiter)
        try:
            await asyncio.wait_for(event.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._guard:
                self._waiters.discard(waiter)

    def install(self) -> None:
        logging.getLogger().addHandler(self)

    def uninstall(self) -> None:
        logging.getLogger().removeHandler(self)
