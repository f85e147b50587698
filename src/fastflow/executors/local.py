"""Local executor: the run as a child process group on this machine (the embedded default)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path

from fastflow.events.recorder import RunRecorder
from fastflow.executors.base import ExecutionResult, RunControl, RunSpec
from fastflow.executors.capture import StreamCapture
from fastflow.executors.metrics_file import MetricsFile
from fastflow.executors.pipe_reader import drain_in_thread, make_pipe
from fastflow.executors.process_metrics import Limits, ProcessTreeSampler
from fastflow.executors.uv_env import EnvironmentCache, SetupError
from fastflow.models import FailureKind, RunStatus

log = logging.getLogger(__name__)


class LocalExecutor:
    """Runs `<pipeline env>/bin/python <entrypoint>` in its own session and process group."""

    name = "local"

    def __init__(
        self,
        envs: EnvironmentCache,
        cancel_grace: float = 10.0,
        metrics_interval: float = 1.0,
        max_line_bytes: int = 1024 * 1024,
    ) -> None:
        self.envs = envs
        self.cancel_grace = cancel_grace
        self.metrics_interval = metrics_interval
        self.max_line_bytes = max_line_bytes

    async def execute(
        self, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        uv_version = await self.envs.uv_version()
        setup = StreamCapture("setup", recorder, self.max_line_bytes)
        try:
            env = await self.envs.ensure(spec.pipeline, setup.feed)
        except SetupError as exc:
            setup.close()
            return ExecutionResult(
                RunStatus.FAILED,
                failure_kind=FailureKind.SETUP,
                error=str(exc),
                uv_version=uv_version,
            )
        setup.close()
        result = await self._run_process(spec, recorder, control, env.python)
        result.uv_version = uv_version
        result.setup_duration = round(env.setup_duration, 4)
        return result

    async def _run_process(
        self, spec: RunSpec, recorder: RunRecorder, control: RunControl, python: Path
    ) -> ExecutionResult:
        await asyncio.to_thread(_prepare_dirs, spec)
        out_r, out_w = make_pipe()
        err_r, err_w = make_pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                str(python),
                str(spec.pipeline.entrypoint),
                cwd=spec.work_dir,
                env=spec.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out_w,
                stderr=err_w,
                start_new_session=True,  # own process group: signals reach the whole tree
            )
        except (FileNotFoundError, PermissionError) as exc:
            for fd in (out_r, err_r):
                os.close(fd)
            kind = (
                FailureKind.COMMAND_NOT_FOUND
                if isinstance(exc, FileNotFoundError)
                else FailureKind.NOT_EXECUTABLE
            )
            return ExecutionResult(RunStatus.FAILED, failure_kind=kind, error=str(exc))
        finally:
            os.close(out_w)  # the child holds its own copies; EOF comes when it is done
            os.close(err_w)
        if control.on_started is not None:
            control.on_started(proc.pid)
        run = _Supervision(self, spec, recorder, control, proc)
        return await run.wait(out_r, err_r)


def _prepare_dirs(spec: RunSpec) -> None:
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    spec.artifacts_dir.mkdir(parents=True, exist_ok=True)


class _Supervision:
    """Watches one child: output, metrics, memory limit, timeout, cancel."""

    def __init__(
        self,
        executor: LocalExecutor,
        spec: RunSpec,
        recorder: RunRecorder,
        control: RunControl,
        proc: asyncio.subprocess.Process,
    ) -> None:
        self.ex = executor
        self.spec = spec
        self.recorder = recorder
        self.control = control
        self.proc = proc
        self.killed_for: RunStatus | FailureKind | None = None
        limits = spec.pipeline.config
        self.sampler = ProcessTreeSampler(
            proc.pid,
            Limits(
                cpu_hard=limits.cpu_hard_limit,
                cpu_soft=limits.cpu_soft_limit,
                mem_hard_bytes=limits.mem_hard_limit_bytes,
                mem_soft_bytes=limits.mem_soft_limit_bytes,
            ),
        )

    async def wait(self, stdout_fd: int, stderr_fd: int) -> ExecutionResult:
        readers = [self._reader(stdout_fd, "stdout"), self._reader(stderr_fd, "stderr")]
        watchers = [
            asyncio.create_task(self._watch_metrics()),
            asyncio.create_task(self._watch_cancel()),
        ]
        try:
            if self.spec.timeout is not None:
                try:
                    await asyncio.wait_for(self.proc.wait(), self.spec.timeout)
                except TimeoutError:
                    await self._stop(RunStatus.TIMED_OUT, f"timeout of {self.spec.timeout:g}s")
            code = await self.proc.wait()
            # A grandchild may keep the pipes open after the main process ended; the run is
            # over, so its process group goes too.
            _, pending = await asyncio.wait(readers, timeout=2.0)
            if pending:
                _signal_group(self.proc.pid, signal.SIGKILL)
                await asyncio.wait(readers, timeout=2.0)
        finally:
            for task in watchers:
                task.cancel()
            for task in watchers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        return self._classify(code)

    def _reader(self, fd: int, name: str) -> asyncio.Future[None]:
        capture = StreamCapture(name, self.recorder, self.ex.max_line_bytes)

        def feed(chunk: bytes) -> None:
            try:
                capture.feed(chunk)
            except Exception as exc:
                # Never stop draining the pipe: a blocked child would hang the run forever.
                log.exception("run %s: capturing %s failed", self.spec.run_id, name)
                self.recorder.error(f"fastflow could not process {name} output: {exc}")
                self.recorder.log_lines(name, [(StreamCapture.decode(chunk), True)])

        return drain_in_thread(fd, f"{self.spec.run_id[:8]}-{name}", feed, capture.close)

    async def _watch_metrics(self) -> None:
        metrics = MetricsFile(self.spec.metrics_path)
        try:
            while True:
                sample = await asyncio.to_thread(self.sampler.sample)
                if sample is None:
                    return
                await asyncio.to_thread(metrics.append, sample)
                self.recorder.metrics(sample)
                if self.sampler.over_memory_limit(sample):
                    await self._kill(FailureKind.OOM)
                    self.recorder.error(
                        f"memory limit exceeded: {sample['ram_mb']:.0f} MB used, "
                        f"limit {sample['ram_limit_mb']:.0f} MB"
                    )
                    return
                await asyncio.sleep(self.ex.metrics_interval)
        finally:
            metrics.close()

    async def _watch_cancel(self) -> None:
        await self.control.cancel_requested.wait()
        await self._stop(RunStatus.CANCELLED, self.control.cancel_reason)

    async def _kill(self, reason: RunStatus | FailureKind) -> None:
        if self.killed_for is None:
            self.killed_for = reason
        _signal_group(self.proc.pid, signal.SIGKILL)

    async def _stop(self, reason: RunStatus, why: str) -> None:
        """SIGTERM to the group, SIGKILL after the grace period."""
        if self.killed_for is None:
            self.killed_for = reason
        self.recorder.system(f"stopping the run ({why}): SIGTERM to its process group")
        _signal_group(self.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.ex.cancel_grace
        try:
            await asyncio.wait_for(self.proc.wait(), max(0.0, deadline - time.monotonic()))
        except TimeoutError:
            self.recorder.system(f"still running after {self.ex.cancel_grace:g}s: SIGKILL")
            _signal_group(self.proc.pid, signal.SIGKILL)
        # Leftover children of a process that exited on SIGTERM go too.
        _signal_group(self.proc.pid, signal.SIGKILL)

    def _classify(self, code: int) -> ExecutionResult:
        exit_code = 128 - code if code < 0 else code  # -9 → 137, as a shell reports it
        if self.killed_for is FailureKind.OOM:
            return ExecutionResult(
                RunStatus.FAILED, exit_code, FailureKind.OOM, "memory hard limit exceeded"
            )
        if self.killed_for is RunStatus.CANCELLED:
            return ExecutionResult(
                RunStatus.CANCELLED, exit_code, error=f"cancelled: {self.control.cancel_reason}"
            )
        if self.killed_for is RunStatus.TIMED_OUT:
            return ExecutionResult(
                RunStatus.TIMED_OUT, exit_code, error=f"timed out after {self.spec.timeout:g}s"
            )
        if exit_code == 0:
            return ExecutionResult(RunStatus.SUCCESS, 0)
        if exit_code == 137:
            # SIGKILL that fastflow did not send: on Linux almost always the kernel OOM killer.
            return ExecutionResult(
                RunStatus.FAILED,
                exit_code,
                FailureKind.OOM,
                "killed (SIGKILL), likely out of memory",
            )
        kinds = {126: FailureKind.NOT_EXECUTABLE, 127: FailureKind.COMMAND_NOT_FOUND}
        kind = kinds.get(exit_code, FailureKind.EXIT_NONZERO)
        return ExecutionResult(RunStatus.FAILED, exit_code, kind, f"exited with code {exit_code}")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
