"""Starting one warm interpreter (`forkserver.py`) and stopping it.

It is started from the pipeline's environment interpreter, as the runs' OS user and inside
a Landlock layer that allows what any run of the pipeline may do (its folders: all runs'
work folders), by the same code that starts a cold run (`sandbox.contain`). It imports the
preload modules there, so it cannot read what the runs could not.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import select
import socket
import subprocess
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from fastflow.sandbox.contain import start_contained
from fastflow.sandbox.landlock import LandlockError
from fastflow.sandbox.policy import SHARED_MEMORY, SandboxPolicy

_SOURCE = Path(__file__).with_name("forkserver.py")
# Reads the server's source (its byte count is the first argument) from stdin and runs it.
_BOOT = (
    "import os, sys\n"
    "n = int(sys.argv.pop(1)); src = b''\n"
    "while len(src) < n:\n"
    "    chunk = os.read(0, n - len(src))\n"
    "    if not chunk: raise SystemExit(1)\n"
    "    src += chunk\n"
    "exec(compile(src, 'fastflow-warm', 'exec'))\n"
)
# What the warm interpreter keeps of fastflow's environment (each run gets its own).
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "TZ")


class WarmStartError(Exception):
    """The warm interpreter could not be started; the message says why."""


@dataclass
class WarmProcess:
    """One running warm interpreter."""

    key: str
    preload: tuple[str, ...]
    python: str
    uid: int | None
    address: str
    token: str  # every request carries it (only fastflow's supervisors know it)
    proc: subprocess.Popen[bytes]
    listener: socket.socket
    started_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def rss_bytes(self) -> int | None:
        import psutil

        try:
            return int(psutil.Process(self.proc.pid).memory_info().rss)
        except psutil.Error:
            return None

    def stop(self) -> None:
        """It stops taking runs now and ends when the runs it forked have ended."""
        self.listener.close()
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()


def base_policy(run_policy: SandboxPolicy, work_root: Path) -> SandboxPolicy:
    """The warm interpreter's layer: the run's policy, with every run's folders writable and
    the network allowed (each run adds its own layer, which takes the rest away)."""
    return replace(run_policy, write=(str(work_root), *SHARED_MEMORY), network=True)


def start_warm_process(
    key: str,
    python: Path,
    preload: tuple[str, ...],
    policy: SandboxPolicy | None,
    ready_timeout: float,
) -> WarmProcess:
    """Start a warm interpreter and wait until it imported `preload` (or said why not)."""
    address = f"fastflow-warm-{secrets.token_hex(12)}"
    token = secrets.token_hex(16)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        listener.bind("\0" + address)
        listener.listen(64)
        proc = _spawn(python, preload, listener, policy, token)
    except BaseException:
        listener.close()
        raise
    uid = policy.uid if policy is not None else None
    warm = WarmProcess(key, preload, str(python), uid, address, token, proc, listener)
    try:
        _wait_ready(proc, ready_timeout)
    except BaseException:
        warm.stop()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.kill()
            proc.wait(5)
        raise
    return warm


def _spawn(
    python: Path,
    preload: tuple[str, ...],
    listener: socket.socket,
    policy: SandboxPolicy | None,
    token: str,
) -> subprocess.Popen[bytes]:
    source = _SOURCE.read_bytes()
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    env["PYTHONSAFEPATH"] = "1"
    fd = listener.fileno()
    argv = [str(python), "-c", _BOOT, str(len(source)), json.dumps(list(preload)), str(fd)]
    argv.append(str(os.getuid()))

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=str(python.parent),
            env=env,
            pass_fds=[fd],
            start_new_session=True,  # a Ctrl-C for the server must not reach it
        )

    try:
        proc = start_contained(policy, start) if policy is not None else start()
    except (OSError, LandlockError) as exc:
        raise WarmStartError(f"the warm interpreter could not start: {exc}") from exc
    assert proc.stdin is not None
    try:
        proc.stdin.write(source + f"{token}\n".encode())
        proc.stdin.flush()
    except OSError:
        pass  # it died at once: its exit is the answer below
    return proc


def _wait_ready(proc: subprocess.Popen[bytes], timeout: float) -> None:
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise WarmStartError(f"the warm interpreter was not ready within {timeout:g}s")
        chunk = os.read(fd, 65536)
        if not chunk:
            code = proc.wait()
            raise WarmStartError(f"the warm interpreter ended at start (exit code {code})")
        line += chunk
    proc.stdout.close()
    try:
        said = json.loads(line)
    except ValueError:
        said = {"error": f"it said {line[:200]!r}"}
    if not said.get("ready"):
        raise WarmStartError(str(said.get("error")))
