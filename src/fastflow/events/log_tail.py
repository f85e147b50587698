"""Follows a run's log file while another process appends to it, relaying what is new.

The per-run supervisor writes the log; the server's viewers are fed from here. A thread reads
the file from where the supervisor started writing: woken by the supervisor's wake-up pipe
when there is one (latency: one pipe read), polling otherwise (a server that re-attached to a
supervisor started by its predecessor). Only whole lines are parsed; a line being written is
kept for the next read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from fastflow.events.threads import start_thread
from fastflow.events.types import Event

log = logging.getLogger(__name__)

_READ = 1024 * 1024
_STATUS = b'"type":"status"'

Relay = Callable[[list[Event]], None]
LineRelay = Callable[[bytes], None]
MessageHandler = Callable[[dict[str, Any]], None]


class LogTail:
    """Relays events appended to `path` after byte `offset`, until stopped or woken for good."""

    def __init__(
        self,
        path: Path,
        offset: int,
        relay: Relay,
        *,
        wake_fd: int | None = None,
        on_message: MessageHandler | None = None,
        poll_interval: float = 0.05,
        watched: Callable[[], bool] | None = None,
        relay_lines: LineRelay | None = None,
    ) -> None:
        """`watched`: False while nobody views the run; then only status events are relayed
        (they carry progress), and the other lines are not even parsed. `relay_lines`: takes
        every whole line as the file's bytes instead of `relay` (a worker sends them on to
        the server as they are: nothing is parsed here)."""
        self.path = path
        self.offset = offset
        self._relay = relay
        self._relay_lines = relay_lines
        self._wake_fd = wake_fd
        self._on_message = on_message
        self._poll = poll_interval
        self._watched = watched
        self._stop = threading.Event()
        self._pending = b""
        self._messages = b""

    def start(self) -> asyncio.Future[None]:
        """Start following in a thread; the returned future ends after the final read."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def finish() -> None:
            if not done.done():
                done.set_result(None)

        def run() -> None:
            try:
                self._follow()
            except Exception:
                log.exception("following %s failed", self.path)
            finally:
                if self._wake_fd is not None:
                    os.close(self._wake_fd)
                with contextlib.suppress(RuntimeError):  # the loop closed first
                    loop.call_soon_threadsafe(finish)

        name = f"fastflow-tail-{self.path.stem[:8]}"
        start_thread(run, name)  # not waiting for it to be scheduled
        return done

    def stop(self) -> None:
        """The writer is done: read what is left, then end (polling mode)."""
        self._stop.set()

    def _follow(self) -> None:
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            while True:
                final = self._wait()
                self._read(f)
                if final:
                    return

    def _wait(self) -> bool:
        """Block until there may be something new; True when nothing more will come."""
        if self._wake_fd is None:
            return self._stop.wait(self._poll)
        data = os.read(self._wake_fd, 65536)
        if not data:
            return True  # the writer closed its end: it has exited
        if self._on_message is not None:
            self._messages += data
            *lines, self._messages = self._messages.split(b"\n")
            for line in lines:
                if line.strip():
                    with contextlib.suppress(orjson.JSONDecodeError):
                        self._on_message(orjson.loads(line))
        return False

    def _read(self, f: Any) -> None:
        while chunk := f.read(_READ):
            data = self._pending + chunk if self._pending else chunk
            end = data.rfind(b"\n") + 1
            self._pending = data[end:]
            if self._relay_lines is not None:
                self.offset += end
                if end:
                    self._relay_lines(data[:end])
                continue
            events = []
            lines = data[:end].splitlines()
            if self._watched is not None and not self._watched():
                lines = [line for line in lines if _STATUS in line]
            for line in lines:
                try:
                    events.append(orjson.loads(line))
                except orjson.JSONDecodeError:
                    log.warning("skipping an unreadable line in %s", self.path)
            self.offset += end
            if events:
                self._relay(events)
