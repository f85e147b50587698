"""The server's side of a run's supervisor process: start it, follow it, cancel it, find it again.

While a supervisor runs, it alone writes the run's log; the server's recorder is handed over
(`RunRecorder.handover`) and only relays what the supervisor appended to live viewers. When
the supervisor has exited the recorder takes the file back and the engine appends `complete`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import psutil

from fastflow.events.log_tail import LogTail
from fastflow.events.recorder import RunRecorder
from fastflow.executors.launcher_client import SupervisorLauncher, supervisor_env
from fastflow.executors.process_run import FAILED, ProcessJob, ProcessOutcome, signal_group
from fastflow.executors.supervisor import (
    CANCEL_FILE,
    CHILD_PID_FILE,
    INFO_FILE,
    LOG_FILE,
    RESULT_FILE,
    read_result,
    write_atomically,
)
from fastflow.runs.ports import RunControl

log = logging.getLogger(__name__)

_EXIT_POLL = 0.2


class SupervisorHandle:
    """One run's supervisor process, started by this server or found after a restart."""

    def __init__(
        self,
        control_dir: Path,
        pid: int,
        create_time: float,
        log_path: Path,
        proc: subprocess.Popen[bytes] | None = None,
        wake_fd: int | None = None,
        offset: int | None = None,
    ) -> None:
        self.control_dir = control_dir
        self.pid = pid
        self.create_time = create_time
        self.log_path = log_path
        self.child_pid: int | None = None
        self._proc = proc
        self._wake_fd = wake_fd
        self._piped = wake_fd is not None
        self._offset = offset
        self._result: dict[str, Any] | None = None

    def alive(self) -> bool:
        return _alive(self.pid, self.create_time)

    async def wait(self, recorder: RunRecorder, control: RunControl) -> ProcessOutcome:
        """Relay the run's events until the supervisor exits; then its outcome."""
        offset = self._offset if self._offset is not None else recorder.handover()
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        if not self._piped:
            ready.set()  # a supervisor from before the restart is long past its start-up

        def started(pid: int) -> None:
            self.child_pid = pid
            ready.set()
            if control.on_started is not None:
                control.on_started(pid)

        def on_message(message: dict[str, Any]) -> None:
            if isinstance(message.get("pid"), int):
                loop.call_soon_threadsafe(started, message["pid"])
            if isinstance(message.get("result"), dict):
                self._result = message["result"]  # read once the tail has ended

        tail = LogTail(
            self.log_path,
            offset,
            recorder.relay,
            wake_fd=self._wake_fd,
            on_message=on_message,
            watched=recorder.has_viewers,
            relay_lines=recorder.line_relay,
        )
        tail_done = tail.start()
        canceller = asyncio.create_task(self._forward_cancel(control, ready))
        try:
            code = await self._wait_exit(tail, tail_done)
        finally:
            ready.set()
            canceller.cancel()
            recorder.take_back()
        # The supervisor said its outcome on the pipe (after writing result.json); else the
        # file, as for a supervisor found after a restart.
        outcome = _outcome(self._result)
        if outcome is None:
            outcome = await asyncio.to_thread(read_result, self.control_dir)
        if outcome is None:
            outcome = await asyncio.to_thread(self._died, code)
        return outcome

    async def _wait_exit(self, tail: LogTail, tail_done: asyncio.Future[None]) -> int | None:
        """Wait until the supervisor has exited and the tail has read everything it wrote."""
        if self._piped:
            # The wake-up pipe reaches end-of-file when the supervisor exits.
            await asyncio.shield(tail_done)
            return None if self._proc is None else await asyncio.to_thread(self._proc.wait)
        # Not our child (started by the previous server): its exit can only be polled.
        while await asyncio.to_thread(self.alive):  # noqa: ASYNC110
            await asyncio.sleep(_EXIT_POLL)
        tail.stop()
        try:
            await asyncio.wait_for(asyncio.shield(tail_done), 30)
        except TimeoutError:
            log.error("run %s: following its log did not finish", self.control_dir.parent.name)
        return None

    async def _forward_cancel(self, control: RunControl, ready: asyncio.Event) -> None:
        await control.cancel_requested.wait()
        # Before its `pid` message the supervisor may not have its signal handlers yet.
        await ready.wait()
        await asyncio.to_thread(self._send_cancel, control.cancel_reason)

    def _send_cancel(self, reason: str) -> None:
        (self.control_dir / CANCEL_FILE).write_text(reason, encoding="utf-8")
        if self._proc is not None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGUSR1)
        elif self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGUSR1)

    def _died(self, code: int | None) -> ProcessOutcome:
        """The supervisor ended without a result (killed): stop what it left running."""
        child = self.child_pid or _read_int(self.control_dir / CHILD_PID_FILE)
        if child is not None:
            signal_group(child, signal.SIGKILL)
        how = f"exit code {code}" if code is not None else "it is gone"
        return ProcessOutcome(
            FAILED,
            failure_kind="LOST",
            error=f"the run's supervisor process ended unexpectedly ({how}); the run's "
            f"process group was stopped (see {self.control_dir / LOG_FILE})",
        )


async def start_supervisor(
    control_dir: Path,
    job: ProcessJob,
    recorder: RunRecorder,
    secrets: tuple[str, ...],
    launcher: SupervisorLauncher | None = None,
    stop_with_parent: bool = False,
    errors: BinaryIO | None = None,
) -> SupervisorHandle:
    """Start a run's supervisor (forked by `launcher` when it can); from here on it writes
    the run's log. `stop_with_parent`: cancel the run when the process that started the
    supervisor (the launcher, or this process) ends. `errors`: what `prepare_control` gave
    for `control_dir` (None: it is called here); closed here."""
    if errors is None:
        errors = await asyncio.to_thread(prepare_control, control_dir)
    offset = recorder.handover()
    payload = {
        "process": job.to_dict(),
        "log_path": str(recorder.log_path),
        "max_log_bytes": recorder.max_log_bytes,
        "secrets": list(secrets),
        "stop_with_parent": stop_with_parent,
    }
    wake_r, wake_w = os.pipe()
    started: list[int] = []

    def start() -> tuple[int, subprocess.Popen[bytes] | None, float]:
        # One worker thread: fork (or start) the supervisor, then what finds it again.
        pid, proc = None, None
        if launcher is not None:
            job_bytes = orjson.dumps({**payload, "control_dir": str(control_dir)})
            pid = launcher.spawn_blocking(job_bytes, wake_w, errors.fileno())
        if pid is None:
            proc = _popen(control_dir, wake_w, errors)
            pid = proc.pid
        started.append(pid)
        create_time = _create_time(pid)
        _write_info(control_dir, {"pid": pid, "create_time": create_time, "log_path": log})
        if proc is not None:
            _send_job(proc, orjson.dumps(payload))
        return pid, proc, create_time

    log = str(recorder.log_path)
    try:
        pid, proc, create_time = await asyncio.to_thread(start)
    except BaseException:
        if not started:  # no supervisor writes the log: it is the recorder's again
            os.close(wake_r)
            recorder.take_back()
        raise
    finally:
        os.close(wake_w)
        errors.close()
    return SupervisorHandle(control_dir, pid, create_time, recorder.log_path, proc, wake_r, offset)


def _popen(control_dir: Path, wake_w: int, errors: BinaryIO) -> subprocess.Popen[bytes]:
    # A plain Popen, not an asyncio subprocess: asyncio kills a child whose transport is
    # closed, and the supervisor must outlive this server's event loop.
    return subprocess.Popen(
        [sys.executable, "-m", "fastflow.executors.supervisor", str(control_dir)],
        stdin=subprocess.PIPE,
        stdout=wake_w,
        stderr=errors,
        cwd=control_dir,
        env=supervisor_env(),
        start_new_session=True,  # outlives the server; Ctrl-C on its terminal is not for it
    )


def find_supervisor(control_dir: Path) -> SupervisorHandle | None:
    """The supervisor of a run, if it still runs or left a result nobody has read yet."""
    try:
        info = json.loads((control_dir / INFO_FILE).read_text(encoding="utf-8"))
        pid, create_time = int(info["pid"]), float(info["create_time"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    # Alive first: a supervisor writes its result before it exits, so one found gone has
    # either left its result by now or never will (the other order misses one ending between).
    if not _alive(pid, create_time) and not (control_dir / RESULT_FILE).exists():
        return None
    log_path = Path(info.get("log_path", ""))
    return SupervisorHandle(control_dir, pid, create_time, log_path)


def prepare_control(control_dir: Path) -> BinaryIO:
    """The supervisor's folder, without what an earlier supervisor of the run left there;
    its log (the supervisor's stderr), open."""
    try:
        control_dir.mkdir(mode=0o700)
    except FileExistsError:
        for stale in (CANCEL_FILE, RESULT_FILE, INFO_FILE, CHILD_PID_FILE):
            (control_dir / stale).unlink(missing_ok=True)
    except FileNotFoundError:
        control_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return open(control_dir / LOG_FILE, "ab")


def _send_job(proc: subprocess.Popen[bytes], job: bytes) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError):  # it died at once: wait() reports that
        proc.stdin.write(job)
    with contextlib.suppress(BrokenPipeError):
        proc.stdin.close()


def _write_info(control_dir: Path, info: dict[str, Any]) -> None:
    write_atomically(control_dir / INFO_FILE, orjson.dumps(info))


def _create_time(pid: int) -> float:
    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return 0.0


def _alive(pid: int, create_time: float) -> bool:
    try:
        proc = psutil.Process(pid)
        # A recycled pid belongs to someone else.
        if abs(proc.create_time() - create_time) > 1.0:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _outcome(data: dict[str, Any] | None) -> ProcessOutcome | None:
    try:
        return None if data is None else ProcessOutcome(**data)
    except TypeError:
        return None


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
