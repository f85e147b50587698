"""A cancel reaches a run's supervisor whichever of its threads the kernel hands the signal.

The kernel may deliver a signal sent to a process to any of its threads; Python runs the
handler only in the main thread, so a main thread that waits without noticing would learn
of the cancel only when the run ends on its own."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from fastflow.executors.process_run import ProcessJob
from fastflow.executors.supervisor import CANCEL_FILE, read_result

_LIBC = ctypes.CDLL(None, use_errno=True)


def _threads(pid: int) -> list[int]:
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]


def _start(tmp_path: Path, seconds: int) -> tuple[subprocess.Popen[bytes], Path, int]:
    control = tmp_path / "supervisor"
    control.mkdir()
    job = ProcessJob(
        run_id="signals",
        argv=[sys.executable, "-c", f"import time; time.sleep({seconds})"],
        cwd=str(tmp_path),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        metrics_path=str(tmp_path / "metrics.jsonl"),
        metrics_interval=60,
        cancel_grace=5,
    )
    payload = {"process": job.to_dict(), "log_path": str(tmp_path / "run.log"), "secrets": []}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fastflow.executors.supervisor", str(control)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(orjson.dumps(payload))
    proc.stdin.close()
    line = proc.stdout.readline()  # {"pid": N}: the run is up, the signal handlers too
    child = orjson.loads(line)["pid"]
    return proc, control, child


@pytest.mark.skipif(not hasattr(_LIBC, "tgkill"), reason="needs tgkill(2)")
def test_a_cancel_delivered_to_a_worker_thread_still_stops_the_run(tmp_path: Path) -> None:
    proc, control, child = _start(tmp_path, 20)
    try:
        deadline = time.monotonic() + 10
        while len(_threads(proc.pid)) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)  # the output readers and the exit waiter
        others = [t for t in _threads(proc.pid) if t != proc.pid]
        assert others, "the supervisor runs threads besides its main one"
        (control / CANCEL_FILE).write_text("cancelled by the test", encoding="utf-8")
        # Directed at one thread that is not the main one, as the kernel may choose.
        assert _LIBC.tgkill(proc.pid, others[0], signal.SIGUSR1) == 0
        proc.wait(60)
        outcome = read_result(control)
        assert outcome is not None
        assert outcome.status == "CANCELLED", outcome
        assert "cancelled by the test" in (outcome.error or "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child, signal.SIGKILL)
