"""One child process, supervised by threads: output, metrics, memory limit, timeout, cancel.

No asyncio and nothing heavy at import: this runs inside the per-run supervisor process, where
start-up time is part of every run's latency, and in a worker thread of `fastflow worker`.
psutil is imported by the metrics thread once the child is already running.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from fastflow.events.metrics_file import MetricsFile
from fastflow.events.recorder import RunRecorder
from fastflow.events.threads import Started, start_thread
from fastflow.executors.capture import StreamCapture
from fastflow.executors.pipe_reader import drain_in_thread, make_pipe
from fastflow.sandbox.contain import kill_descendants, start_contained
from fastflow.sandbox.landlock import LandlockError
from fastflow.sandbox.policy import SandboxPolicy

# Outcome vocabulary (values of fastflow.models.RunStatus / FailureKind, kept as plain strings
# so this module does not import the models into the supervisor's start-up).
SUCCESS, FAILED, CANCELLED, TIMED_OUT = "SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"
OOM, NOT_EXECUTABLE, COMMAND_NOT_FOUND = "OOM", "NOT_EXECUTABLE", "COMMAND_NOT_FOUND"
EXIT_NONZERO, ENGINE_ERROR, UNHEALTHY = "EXIT_NONZERO", "ENGINE_ERROR", "UNHEALTHY"


@dataclass(frozen=True)
class ProcessJob:
    """Everything needed to start and watch one run's process; JSON-serializable."""

    run_id: str
    argv: list[str]
    cwd: str
    env: dict[str, str]
    metrics_path: str
    timeout: float | None = None
    cpu_hard: float | None = None
    cpu_soft: float | None = None
    mem_hard_bytes: int | None = None
    mem_soft_bytes: int | None = None
    cancel_grace: float = 10.0
    metrics_interval: float = 1.0
    max_line_bytes: int = 1024 * 1024
    # No output and no progress for longer: the run is stopped as UNHEALTHY.
    health_timeout: float | None = None
    # A SandboxPolicy as a dict (None: not sandboxed).
    sandbox: dict[str, Any] | None = None
    # A warm interpreter to fork the run from (a WarmTarget as a dict; None: start cold).
    warm: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProcessJob:
        return cls(**data)


@dataclass
class ProcessOutcome:
    """How the process ended: a RunStatus value, its exit code, a FailureKind value, why."""

    status: str
    exit_code: int | None = None
    failure_kind: str | None = None
    error: str | None = None
    # "warm" or "cold" when a warm start was asked for (None: it was not).
    start: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Child(Protocol):
    """The run's process as the supervision needs it (a Popen, or a warm interpreter's fork)."""

    pid: int

    def wait(self, timeout: float | None = None) -> int: ...


@dataclass
class _Stop:
    """Why fastflow stopped the process (the first reason wins)."""

    reason: str | None = None
    detail: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, reason: str, detail: str = "") -> bool:
        with self.lock:
            if self.reason is not None:
                return False
            self.reason, self.detail = reason, detail
            return True


class ProcessRun:
    """Starts `job.argv` in its own session and process group and watches it to its end."""

    def __init__(
        self,
        job: ProcessJob,
        recorder: RunRecorder,
        on_started: Callable[[int], None] | None = None,
        reap: bool = False,
    ) -> None:
        """`reap`: this process is a subreaper that supervises only this run, so every
        descendant it still has when the run's process exits is the run's, and is killed."""
        self.job = job
        self.recorder = recorder
        self.on_started = on_started
        self.reap = reap
        self._wake = threading.Event()
        self._exited = threading.Event()
        self._cancel: str | None = None
        self._stop = _Stop()
        self._proc: Child | None = None
        self._start_mode: str | None = None

    def cancel(self, reason: str) -> None:
        """Stop the run (SIGTERM, SIGKILL after the grace time); safe from any thread."""
        self._cancel = reason
        self._wake.set()

    def run(self) -> ProcessOutcome:
        """Start the process and block until it and its output are done."""
        out_r, out_w = make_pipe()
        err_r, err_w = make_pipe()
        try:
            proc = self._start(out_w, err_w)
        except (FileNotFoundError, PermissionError, LandlockError) as exc:
            for fd in (out_r, err_r):
                os.close(fd)
            if isinstance(exc, LandlockError):
                return ProcessOutcome(
                    FAILED,
                    failure_kind=ENGINE_ERROR,
                    error=f"the sandbox could not be set up: {exc}",
                )
            kind = COMMAND_NOT_FOUND if isinstance(exc, FileNotFoundError) else NOT_EXECUTABLE
            return ProcessOutcome(FAILED, failure_kind=kind, error=str(exc))
        finally:
            os.close(out_w)  # the child holds its own copies; EOF comes when it is done
            os.close(err_w)
        self._proc = proc
        # The readers first: the run's first line does not wait for `on_started` (a file
        # written, a message sent). Threads started without waiting for each to be
        # scheduled (see events/threads.py).
        readers = [self._reader(out_r, "stdout"), self._reader(err_r, "stderr")]
        start_thread(self._wait_exit, "fastflow-wait")
        metrics = start_thread(self._watch_metrics, "fastflow-metrics")
        if self.on_started is not None:
            self.on_started(proc.pid)
        self._supervise()
        code = proc.wait()
        if self.reap:
            # Daemons of the run (setsid, double fork) were re-parented to this subreaper.
            left = kill_descendants()
            if left:
                self.recorder.system(f"stopped {left} process(es) the run left running")
        # A grandchild may keep the pipes open after the main process ended; the run is over,
        # so its process group goes too.
        if not _join_all(readers, 2.0):
            signal_group(proc.pid, signal.SIGKILL)
            _join_all(readers, 2.0)
        metrics.join(timeout=5.0)
        if self._start_mode == "warm":
            from fastflow.executors.warm.client import after_warm_run

            after_warm_run(proc, self.recorder)
        outcome = self._classify(code)
        outcome.start = self._start_mode
        return outcome

    def _start(self, out_w: int, err_w: int) -> Child:
        if self.job.warm is not None:
            # Warm or cold: a warm interpreter forks the run, else it starts as below.
            from fastflow.executors.warm.client import start_job_warm

            child, why_cold = start_job_warm(self.job, out_w, err_w)
            self._start_mode = "cold" if child is None else "warm"
            if child is not None:
                return child
            self.recorder.system(f"started cold: {why_cold}")

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                self.job.argv,
                cwd=self.job.cwd,
                env=self.job.env,
                stdin=subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                start_new_session=True,  # own process group: signals reach the whole tree
            )

        if self.job.sandbox is None:
            return start()
        policy = SandboxPolicy.from_dict(self.job.sandbox)
        return start_contained(policy, start)

    def _wait_exit(self) -> None:
        assert self._proc is not None
        self._proc.wait()
        self._exited.set()
        self._wake.set()

    def _supervise(self) -> None:
        """Wait for the end, a cancel, the timeout, silence past the health timeout or a
        limit kill (whichever comes first)."""
        timeout, health = self.job.timeout, self.job.health_timeout
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._exited.is_set():
            now = time.monotonic()
            left = None if deadline is None else deadline - now
            if left is not None and left <= 0:
                self._terminate(TIMED_OUT, f"timeout of {timeout:g}s")
                return
            if health is not None:
                silent = now - self.recorder.last_output_at
                if silent > health:
                    self._terminate(
                        UNHEALTHY,
                        f"no output or progress for {silent:.0f}s (health timeout {health:g}s)",
                    )
                    return
                quiet_left = health - silent + 0.05
                left = quiet_left if left is None else min(left, quiet_left)
            self._wake.wait(left)
            self._wake.clear()
            if self._cancel is not None and not self._exited.is_set():
                self._terminate(CANCELLED, self._cancel)
                return

    def _terminate(self, reason: str, why: str) -> None:
        """SIGTERM to the group, SIGKILL after the grace time."""
        assert self._proc is not None
        if self._stop.claim(reason, why):
            self.recorder.system(f"stopping the run ({why}): SIGTERM to its process group")
        self._signal(signal.SIGTERM)
        if not self._exited.wait(self.job.cancel_grace):
            self.recorder.system(f"still running after {self.job.cancel_grace:g}s: SIGKILL")
            self._signal(signal.SIGKILL)
        self._exited.wait()
        # Leftover children of a process that exited on SIGTERM go too.
        signal_group(self._proc.pid, signal.SIGKILL)

    def _signal(self, sig: signal.Signals) -> None:
        """`sig` to the run's process group; to its process while it has none yet (a warm
        run's process makes its group as its first step, after its pid is known here)."""
        assert self._proc is not None
        if not signal_group(self._proc.pid, sig) and not self._exited.is_set():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(self._proc.pid, sig)

    def _reader(self, fd: int, name: str) -> Started:
        capture = StreamCapture(name, self.recorder, self.job.max_line_bytes)

        def feed(chunk: bytes) -> None:
            try:
                capture.feed(chunk)
            except Exception as exc:
                # Never stop draining the pipe: a blocked child would hang the run forever.
                log_exception("run %s: capturing %s failed", self.job.run_id, name)
                self.recorder.error(f"fastflow could not process {name} output: {exc}")
                self.recorder.log_lines(name, [(StreamCapture.decode(chunk), True)])

        thread_name = f"{self.job.run_id[:8]}-{name}"
        return drain_in_thread(fd, thread_name, feed, capture.close, done=self._exited)

    def _watch_metrics(self) -> None:
        from fastflow.executors.process_metrics import Limits, ProcessTreeSampler

        assert self._proc is not None
        job = self.job
        sampler = ProcessTreeSampler(
            self._proc.pid,
            Limits(job.cpu_hard, job.cpu_soft, job.mem_hard_bytes, job.mem_soft_bytes),
        )
        metrics = MetricsFile(Path(job.metrics_path))
        try:
            while not self._exited.is_set():
                sample = sampler.sample()
                if sample is None:
                    return
                metrics.append(sample)
                self.recorder.metrics(sample)
                if sampler.over_memory_limit(sample):
                    self._stop.claim(OOM)
                    signal_group(self._proc.pid, signal.SIGKILL)
                    self.recorder.error(
                        f"memory limit exceeded: {sample['ram_mb']:.0f} MB used, "
                        f"limit {sample['ram_limit_mb']:.0f} MB"
                    )
                    return
                self._exited.wait(job.metrics_interval)
        except Exception:
            log_exception("run %s: metrics sampling failed", job.run_id)
        finally:
            metrics.close()

    def _classify(self, code: int) -> ProcessOutcome:
        exit_code = 128 - code if code < 0 else code  # -9 → 137, as a shell reports it
        reason = self._stop.reason
        if reason == OOM:
            return ProcessOutcome(FAILED, exit_code, OOM, "memory hard limit exceeded")
        if reason == CANCELLED:
            return ProcessOutcome(CANCELLED, exit_code, error=f"cancelled: {self._stop.detail}")
        if reason == UNHEALTHY:
            return ProcessOutcome(FAILED, exit_code, UNHEALTHY, self._stop.detail)
        if reason == TIMED_OUT:
            return ProcessOutcome(
                TIMED_OUT, exit_code, error=f"timed out after {self.job.timeout:g}s"
            )
        if exit_code == 0:
            return ProcessOutcome(SUCCESS, 0)
        if exit_code == 137:
            # SIGKILL that fastflow did not send: on Linux almost always the kernel OOM killer.
            return ProcessOutcome(FAILED, exit_code, OOM, "killed (SIGKILL), likely out of memory")
        kinds = {126: NOT_EXECUTABLE, 127: COMMAND_NOT_FOUND}
        kind = kinds.get(exit_code, EXIT_NONZERO)
        return ProcessOutcome(FAILED, exit_code, kind, f"exited with code {exit_code}")


def _join_all(threads: list[Started], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive() for t in threads)


def log_exception(message: str, *args: object) -> None:
    """Log the exception being handled; `logging` is imported only when one happens."""
    import logging

    logging.getLogger(__name__).exception(message, *args)


def signal_group(pid: int, sig: signal.Signals) -> bool:
    """Send `sig` to the process group led by `pid`; False when there is no such group or
    it is not ours (then nothing happens)."""
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def kill_orphan(pid: int, started_at: float | None) -> None:
    """Stop the process group of a run whose pipes died with the old server."""
    import psutil  # not at import: supervisors start without it

    with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
        proc = psutil.Process(pid)
        # A recycled pid belongs to someone else: only a process that started with the run.
        if started_at is not None and proc.create_time() < started_at - 5:
            return
        os.killpg(pid, signal.SIGKILL)
