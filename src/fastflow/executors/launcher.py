"""The supervisor launcher: forks each run's supervisor from a process that imported it once.

`python -m fastflow.executors.launcher FD`, started by the server; FD is its end of a
SOCK_SEQPACKET socket pair. Each message is one job (the supervisor's JSON job plus
`control_dir`) carrying two file descriptors: the wake-up pipe to the server (the
supervisor's stdout) and the supervisor's log (its stderr). The launcher forks; the child
becomes the run's supervisor in a session of its own; the launcher answers with its pid.

Starting an interpreter and importing the supervisor costs tens of milliseconds on every
run; a fork of a process that has it all imported costs about one. The launcher has no
threads (so forking is safe), ends when the server closes its end, and never stops the
supervisors it forked: they outlive it as they outlive the server.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import traceback
from pathlib import Path
from typing import Any

import orjson

import fastflow.executors.process_metrics  # (imported once here, not in each run)
import fastflow.executors.warm.client  # noqa: F401  (likewise, for warm starts)
from fastflow.executors import supervisor

MAX_JOB_BYTES = 4 * 1024 * 1024
REPLY = struct.Struct("!i")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fastflow.executors.launcher FD", file=sys.stderr)
        return 2
    sock = socket.socket(fileno=int(args[0]))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps exited supervisors
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        try:
            data, fds, _flags, _addr = socket.recv_fds(sock, MAX_JOB_BYTES, 2)
        except OSError:
            return 1
        if not data:
            return 0  # the server is gone
        try:
            pid = _fork(orjson.loads(data), fds, sock) if len(fds) == 2 else -1
        except Exception:
            traceback.print_exc()
            pid = -1
        finally:
            for fd in fds:
                os.close(fd)
        sock.send(REPLY.pack(pid))


def _fork(job: dict[str, Any], fds: list[int], sock: socket.socket) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the supervisor waits for its child
        os.setsid()
        sock.close()
        wake, errors = fds
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(wake, 1)
        os.dup2(errors, 2)
        for fd in (null, wake, errors):
            os.close(fd)
        control_dir = Path(job["control_dir"])
        os.chdir(control_dir)
        cancel = supervisor.install_signals(control_dir)
        code = supervisor.supervise(control_dir, job, cancel)
    except BaseException:
        traceback.print_exc()
    finally:
        os._exit(code)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
