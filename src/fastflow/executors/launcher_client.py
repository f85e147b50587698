"""The server's side of the supervisor launcher (`executors/launcher.py`): ask it to fork one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading

from fastflow.executors.launcher import MAX_JOB_BYTES, REPLY

log = logging.getLogger(__name__)

# What a supervisor (and the launcher) needs of the server's environment; the run's own
# environment travels in its job. Nothing else (database URLs, keys) reaches them.
_SUPERVISOR_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "PYTHONPATH")


def supervisor_env() -> dict[str, str]:
    """The server's environment cut down to what a supervisor process needs."""
    return {k: os.environ[k] for k in _SUPERVISOR_ENV if k in os.environ}


class SupervisorLauncher:
    """Starts the launcher on first use (and again if it died); one request at a time."""

    def __init__(self) -> None:
        # A thread lock: a worker's runs share one launcher, each from its own event loop.
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    async def spawn(self, job: bytes, wake_fd: int, errors_fd: int) -> int | None:
        """Fork a supervisor for `job`; its pid, or None when the launcher cannot (start it
        the plain way then)."""
        return await asyncio.to_thread(self.spawn_blocking, job, wake_fd, errors_fd)

    def spawn_blocking(self, job: bytes, wake_fd: int, errors_fd: int) -> int | None:
        """`spawn` for a worker thread."""
        if len(job) > MAX_JOB_BYTES:
            return None
        with self._lock:
            return self._spawn(job, wake_fd, errors_fd)

    def _spawn(self, job: bytes, wake_fd: int, errors_fd: int) -> int | None:
        for attempt in (1, 2):
            try:
                sock = self._connect()
                socket.send_fds(sock, [job], [wake_fd, errors_fd])
                reply = sock.recv(REPLY.size)
                if len(reply) == REPLY.size:
                    pid = int(REPLY.unpack(reply)[0])
                    return pid if pid > 0 else None
            except OSError as exc:
                log.warning("supervisor launcher: %s (attempt %d)", exc, attempt)
            self._reset()  # died or answered nonsense: a fresh one for the next try
        return None

    def _connect(self) -> socket.socket:
        if self._sock is not None and self._proc is not None and self._proc.poll() is None:
            return self._sock
        self._reset()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        with contextlib.suppress(OSError):
            ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, MAX_JOB_BYTES)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "fastflow.executors.launcher", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                env=supervisor_env(),
                start_new_session=True,  # a Ctrl-C for the server must not reach it
            )
        finally:
            theirs.close()
        self._sock = ours
        return ours

    def _reset(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)  # closing our end ends it
            self._proc = None

    def close(self) -> None:
        """Stop the launcher (the supervisors it forked go on, unless their jobs said
        `stop_with_parent`)."""
        with self._lock:
            self._reset()
