"""Asking a warm interpreter (`forkserver.py`) for a run: the supervisor's side.

Light at import, like the rest of the supervisor: a socket, orjson, a thread per run.
"""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from fastflow.sandbox.contain import ruleset_for
from fastflow.sandbox.policy import SandboxPolicy

if TYPE_CHECKING:
    from fastflow.events.recorder import RunRecorder
    from fastflow.executors.process_run import Child, ProcessJob

_MAX_ANSWER = 64 * 1024


class WarmUnavailable(Exception):
    """The run cannot start warm; the message says why (it starts cold)."""


@dataclass(frozen=True)
class WarmTarget:
    """Where a run's warm interpreter listens and what it is; part of the run's job."""

    address: str  # an abstract Unix socket address (without its leading NUL)
    token: str  # travels with the job (never on disk), like the run's secrets
    python: str
    uid: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "token": self.token,
            "python": self.python,
            "uid": self.uid,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WarmTarget:
        return cls(str(data["address"]), str(data["token"]), str(data["python"]), data.get("uid"))


class WarmChild:
    """A run forked by the warm interpreter: its pid, and its end as `Popen.wait` gives it
    (the warm interpreter is its parent and says how it ended). No thread of its own: the
    first caller of `wait` reads the warm interpreter's answer, others wait for that."""

    def __init__(self, sock: socket.socket, pid: int) -> None:
        self.pid = pid
        self.left = 0  # processes the run left running, stopped when it ended
        self.lost = False  # the warm interpreter ended first: the exit code is unknown
        self.returncode: int | None = None
        self._sock = sock
        self._reading = threading.Lock()
        self._done = threading.Event()

    def _follow(self) -> None:
        try:
            answer = _read(self._sock)
            self.left = int(answer.get("left", 0))
            self.returncode = os.waitstatus_to_exitcode(int(answer["status"]))
        except (OSError, ValueError, KeyError):
            _wait_gone(self.pid)
            self.lost, self.returncode = True, 1
        finally:
            self._sock.close()
            self._done.set()

    def wait(self, timeout: float | None = None) -> int:
        # With a timeout, only wait for a reader (a blocking read could outlast it).
        if timeout is None and not self._done.is_set() and self._reading.acquire(False):
            try:
                if not self._done.is_set():
                    self._follow()
            finally:
                self._reading.release()
        self._done.wait(timeout)
        assert self.returncode is not None
        return self.returncode

    def poll(self) -> int | None:
        return self.returncode


def start_job_warm(job: ProcessJob, out_w: int, err_w: int) -> tuple[WarmChild | None, str]:
    """Fork `job` from its warm interpreter: the child, or None and why it starts cold."""
    assert job.warm is not None
    target = WarmTarget.from_dict(job.warm)
    request = {"script": job.argv[1], "args": job.argv[2:], "cwd": job.cwd, "env": job.env}
    request["token"] = target.token
    policy = SandboxPolicy.from_dict(job.sandbox) if job.sandbox is not None else None
    null = os.open(os.devnull, os.O_RDONLY)
    try:
        return start_warm(target, request, (null, out_w, err_w), policy), ""
    except WarmUnavailable as exc:
        return None, str(exc)
    except OSError as exc:  # the run's Landlock ruleset could not be built
        return None, f"the run's sandbox could not be prepared for it ({exc})"
    finally:
        os.close(null)


def after_warm_run(child: Child, recorder: RunRecorder) -> None:
    """What the warm interpreter said about the run's end, as the log's system lines."""
    if not isinstance(child, WarmChild):
        return
    if child.left:
        recorder.system(f"stopped {child.left} process(es) the run left running")
    if child.lost:
        recorder.system("the warm interpreter ended before the run; its exit code is unknown")


def start_warm(
    target: WarmTarget,
    request: dict[str, Any],
    stdio: tuple[int, int, int],
    policy: SandboxPolicy | None,
) -> WarmChild:
    """Fork the run from `target`; `request`: script, args, cwd, env."""
    if policy is not None and policy.uid != target.uid:
        raise WarmUnavailable("the warm interpreter runs as another user than this run")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        try:
            sock.connect("\0" + target.address)
        except OSError as exc:
            raise WarmUnavailable(f"the warm interpreter is gone ({exc.strerror})") from exc
        fds = list(stdio)
        ruleset = ruleset_for(policy) if policy is not None else None
        try:
            if ruleset is not None:
                fds.append(ruleset.fd)
            socket.send_fds(sock, [orjson.dumps(request)], fds)
        finally:
            if ruleset is not None:
                ruleset.close()
        answer = _read(sock)
    except WarmUnavailable:
        sock.close()
        raise
    except (OSError, ValueError, orjson.JSONDecodeError) as exc:
        sock.close()
        raise WarmUnavailable(f"the warm interpreter did not answer ({exc})") from exc
    if "pid" not in answer:
        sock.close()
        raise WarmUnavailable(f"the warm interpreter refused: {answer.get('error')}")
    return WarmChild(sock, int(answer["pid"]))


def _read(sock: socket.socket) -> dict[str, Any]:
    data = sock.recv(_MAX_ANSWER)
    if not data:
        raise OSError("the warm interpreter closed the connection")
    answer = orjson.loads(data)
    if not isinstance(answer, dict):
        raise ValueError("not a JSON object")
    return answer


def _wait_gone(pid: int) -> None:
    """The warm interpreter died before the run: wait for the run's end without its code."""
    import time

    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        except PermissionError:
            pass
        time.sleep(0.1)
