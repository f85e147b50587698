"""Drains a child's output pipe in a thread of its own.

The web server's event loop may be busy serving many viewers; if the child's output were read
by a task on that loop, a full pipe would block the child and slow the run. A thread doing
blocking reads keeps draining at the pace the child writes, whatever the loop is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import threading
from collections.abc import Callable

READ_CHUNK = 256 * 1024
_F_SETPIPE_SZ = 1031  # Linux: a 1 MiB pipe absorbs bursts while the reader catches up
_PIPE_SIZE = 1024 * 1024


def make_pipe() -> tuple[int, int]:
    """(read end, write end) with a large kernel buffer where the system allows it."""
    r, w = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(w, _F_SETPIPE_SZ, _PIPE_SIZE)
    return r, w


def drain_in_thread(
    fd: int, name: str, feed: Callable[[bytes], None], close: Callable[[], None]
) -> asyncio.Future[None]:
    """Read `fd` to EOF in a new thread, handing chunks to `feed`; the future ends with it."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finish(exc: BaseException | None) -> None:
        if done.done():
            return
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)

    def run() -> None:
        error: BaseException | None = None
        try:
            while chunk := os.read(fd, READ_CHUNK):
                feed(chunk)
            close()
        except BaseException as exc:
            error = exc
        finally:
            os.close(fd)
            with contextlib.suppress(RuntimeError):  # the loop closed first: nobody waits
                loop.call_soon_threadsafe(finish, error)

    threading.Thread(target=run, name=f"fastflow-{name}", daemon=True).start()
    return done
