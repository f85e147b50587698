"""The per-run supervisor process: `python -m fastflow.executors.supervisor CONTROL_DIR`.

The server starts one for each local run, in a session of its own, so that the run outlives
the server (a crash, an upgrade), the way a container outlives it under a container engine's
monitor. The supervisor starts the run's process, captures its output into the run's log file
(numbered, masked, capped), samples metrics, enforces the timeout and the memory limit, and
writes the outcome to CONTROL_DIR/result.json. Capture runs here, not in the web server, so
a server busy with many viewers never slows a run down.

Talking to the server:
- stdin: one JSON job: ``{"process": ProcessJob, "log_path", "max_log_bytes", "secrets"}``
  (secrets travel here, never on disk or on a command line);
- stdout: JSON lines for the server that started it: ``{"pid": N}`` once the run's process
  is up, then an empty line after each batch appended to the log (a wake-up for the server's
  tailer; dropped when the pipe is full, ignored when the server is gone), and at the end
  ``{"result": ProcessOutcome}``, after result.json is written;
- SIGUSR1 or SIGTERM: cancel the run, with the reason read from CONTROL_DIR/cancel;
- CONTROL_DIR/result.json: the ProcessOutcome, written atomically as the last thing.

Only light modules are imported (not even `logging` or `json` unless needed): start-up time
is part of every run's latency.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import sys
from pathlib import Path
from types import FrameType
from typing import Any

import orjson

from fastflow.events.recorder import RunRecorder
from fastflow.events.threads import start_thread
from fastflow.executors.process_run import (
    FAILED,
    ProcessJob,
    ProcessOutcome,
    ProcessRun,
    log_exception,
)
from fastflow.sandbox.contain import become_subreaper, signal_on_parent_death
from fastflow.secrets.masking import Masker

CANCEL_FILE = "cancel"
RESULT_FILE = "result.json"
INFO_FILE = "supervisor.json"
LOG_FILE = "supervisor.log"
CHILD_PID_FILE = "child.pid"
DEFAULT_CANCEL_REASON = "cancel requested"


class ServerPipe:
    """The stdout pipe to the server: never blocks the run, never fails it."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._open = True
        os.set_blocking(fd, False)

    def send(self, data: bytes) -> bool:
        if not self._open:
            return False
        try:
            os.write(self._fd, data)
            return True
        except BlockingIOError:
            return False  # the server has wake-ups pending already
        except OSError as exc:
            if exc.errno in (errno.EPIPE, errno.EBADF):
                self._open = False  # the server is gone; the run goes on
                return False
            raise

    def wake(self, _events: list[Any]) -> None:
        self.send(b"\n")

    def started(self, pid: int) -> None:
        # The pipe is empty this early, so this small write is never dropped.
        self.send(orjson.dumps({"pid": pid}) + b"\n")

    def result(self, outcome: ProcessOutcome) -> None:
        """The outcome once more, after result.json: the server that started this process
        takes it from here (and reads the file only when this was dropped)."""
        self.send(orjson.dumps({"result": outcome.to_dict()}) + b"\n")


def read_cancel_reason(control_dir: Path) -> str:
    try:
        return (control_dir / CANCEL_FILE).read_text(encoding="utf-8").strip()[:500] or (
            DEFAULT_CANCEL_REASON
        )
    except OSError:
        return DEFAULT_CANCEL_REASON


def write_atomically(path: Path, data: bytes) -> None:
    """A reader (the server, a restarted server) sees the whole file or none, never a part."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def write_result(control_dir: Path, outcome: ProcessOutcome) -> None:
    write_atomically(control_dir / RESULT_FILE, orjson.dumps(outcome.to_dict()))


def read_result(control_dir: Path) -> ProcessOutcome | None:
    try:
        data = orjson.loads((control_dir / RESULT_FILE).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return ProcessOutcome(**data)


class _Cancel:
    """Signals arrive before the run exists or while it runs; either way they are kept.

    The handler runs in the main thread, which holds no lock of the run's while it waits
    (see `run_in_thread`), so it tells the run itself."""

    def __init__(self, control_dir: Path) -> None:
        self.control_dir = control_dir
        self.reason: str | None = None
        self.run: ProcessRun | None = None

    def handle(self, _signum: int, _frame: FrameType | None) -> None:
        self.reason = read_cancel_reason(self.control_dir)
        if self.run is not None:
            self.run.cancel(self.reason)


def install_signals(control_dir: Path) -> _Cancel:
    """Cancel on SIGUSR1/SIGTERM from now on; Ctrl-C on the server's terminal is not ours."""
    cancel = _Cancel(control_dir)
    signal.signal(signal.SIGUSR1, cancel.handle)
    signal.signal(signal.SIGTERM, cancel.handle)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return cancel


def stop_with_parent(cancel: _Cancel) -> None:
    """SIGTERM (a cancel) to this process when its parent ends; at once if it already has."""
    parent = os.getppid()
    signal_on_parent_death(signal.SIGTERM)
    if os.getppid() != parent or parent == 1:
        cancel.handle(signal.SIGTERM, None)


def supervise(control_dir: Path, job: dict[str, Any], cancel: _Cancel) -> int:
    """Run one job to its end; stdout (fd 1) is the pipe to the server."""
    process = ProcessJob.from_dict(job["process"])
    if job.get("stop_with_parent"):
        # A worker's run: nobody would carry its events to the server once the worker (or
        # the launcher it talks to) is gone, so the run is cancelled then.
        stop_with_parent(cancel)
    recorder = RunRecorder(
        process.run_id, Path(job["log_path"]), max_log_bytes=job.get("max_log_bytes")
    )
    masker = Masker(job.get("secrets") or ())
    if masker:
        recorder.set_filters(masker, masker.fragment)
    server = ServerPipe(1)
    recorder.add_listener(server.wake, lines=False)  # a wake-up: the server reads the file

    def started(pid: int) -> None:
        # For a server that re-attaches: what to stop should this supervisor be killed.
        write_atomically(control_dir / CHILD_PID_FILE, str(pid).encode())
        server.started(pid)

    # Whatever the run starts stays below this process, so nothing of it outlives the run.
    run = ProcessRun(process, recorder, on_started=started, reap=become_subreaper())
    cancel.run = run
    try:
        outcome = run_in_thread(run, cancel)
    except Exception as exc:
        log_exception("run %s: supervising the process failed", process.run_id)
        outcome = ProcessOutcome(
            FAILED, failure_kind="ENGINE_ERROR", error=f"the run's supervisor failed: {exc}"
        )
    finally:
        recorder.close()
    write_result(control_dir, outcome)
    server.result(outcome)
    sys.stderr.write(f"run {process.run_id}: {outcome.status} ({outcome.exit_code})\n")
    return 0


def run_in_thread(run: ProcessRun, cancel: _Cancel) -> ProcessOutcome:
    """`run.run()` in a thread of its own while this, the main thread, waits for it on the
    signals' wake-up pipe.

    The kernel hands a signal sent to this process to any of its threads; Python runs the
    handler in the main thread only, once that thread runs again. A main thread blocked on a
    lock (as `run.run()` waits) would learn of a cancel only when the run ended by itself.
    Here every signal, whichever thread took it, writes to the wake-up pipe this thread
    polls, so the handler runs at once. A cancel that came before the run existed is told
    to it by its own thread (this one must hold none of the run's locks: the handler may
    interrupt it anywhere)."""
    done: list[ProcessOutcome | BaseException] = []
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    previous = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)

    def work() -> None:
        try:
            if cancel.reason is not None:
                run.cancel(cancel.reason)
            done.append(run.run())
        except BaseException as exc:
            done.append(exc)
        finally:
            with contextlib.suppress(BlockingIOError):
                os.write(wake_w, b"\0")

    try:
        thread = start_thread(work, "fastflow-run")  # not waiting for it to be scheduled
        poller = select.poll()
        poller.register(wake_r, select.POLLIN)
        while not done:
            poller.poll()  # a signal's handler runs as this returns
            with contextlib.suppress(BlockingIOError):
                os.read(wake_r, 4096)
        thread.join()
    finally:
        signal.set_wakeup_fd(previous)
        os.close(wake_r)
        os.close(wake_w)
    if isinstance(done[0], BaseException):
        raise done[0]
    return done[0]


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m fastflow.executors.supervisor CONTROL_DIR", file=sys.stderr)
        return 2
    control_dir = Path(args[0])
    cancel = install_signals(control_dir)
    job = orjson.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    return supervise(control_dir, job, cancel)


if __name__ == "__main__":
    sys.exit(main())
