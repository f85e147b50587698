"""Drains a child's output pipe in a thread of its own.

A thread doing blocking reads keeps draining at the pace the child writes, whatever else the
process is doing; a full pipe would block the child and slow the run.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable

from fastflow.events.threads import Started, start_thread

READ_CHUNK = 256 * 1024
COALESCE_SECONDS = 0.002
"""After a short read, wait this long so the next read takes many lines at once.

A child printing unbuffered lines writes one line per system call; reading each on its own
costs a wake-up, a read, a log write and a fan-out per line, and the child ends up waiting
for its reader. 2 ms of lines fit the pipe many times over, and add 2 ms at most to a
line's way to its viewers. Once the child has exited nothing more is coming but what the
pipe holds: the wait ends then (`done`), so the run's end is not held up by it.
"""
_F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe absorbs bursts while the reader catches up
_PIPE_SIZE = 1024 * 1024


def make_pipe() -> tuple[int, int]:
    """(read end, write end) with a large kernel buffer where the system allows it."""
    r, w = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(w, _F_SETPIPE_SZ, _PIPE_SIZE)
    return r, w


def drain_in_thread(
    fd: int,
    name: str,
    feed: Callable[[bytes], None],
    close: Callable[[], None],
    done: threading.Event | None = None,
) -> Started:
    """Read `fd` to EOF in a new thread, handing chunks to `feed`, then call `close`.
    `done`: set when the writer has exited (no more coalescing waits from then on)."""

    def run() -> None:
        try:
            while chunk := os.read(fd, READ_CHUNK):
                feed(chunk)
                if len(chunk) < READ_CHUNK // 4:
                    if done is None:
                        time.sleep(COALESCE_SECONDS)
                    else:
                        done.wait(COALESCE_SECONDS)
            close()
        finally:
            os.close(fd)

    return start_thread(run, f"fastflow-{name}")
