"""Local executor: the run as a child process group on this machine (the embedded default).

Two ways to watch the process, one code path (`ProcessRun`):
- supervised (the server): a per-run supervisor process captures the output into the log
  file and enforces limits; the server relays what it appends to live viewers. The run
  outlives a server crash and a restarted server re-attaches to it.
- inline (`fastflow worker`, tests): the same supervision in threads of this process,
  recording through the given recorder (a worker's Redis stream writer).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Collection
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

from fastflow.events.recorder import RunRecorder
from fastflow.executors.capture import StreamCapture
from fastflow.executors.inline import run_inline
from fastflow.executors.launcher_client import SupervisorLauncher
from fastflow.executors.process_run import ProcessJob, ProcessOutcome, kill_orphan
from fastflow.executors.run_sandbox import PreparedRun, RunSandbox
from fastflow.executors.supervised import find_supervisor, prepare_control, start_supervisor
from fastflow.executors.uv_env import EnvironmentCache, SetupError
from fastflow.executors.warm.client import WarmTarget
from fastflow.executors.warm.hook import pre_heat, record_start, warm_target
from fastflow.executors.warm.pool import WarmPool
from fastflow.models import FailureKind, RunStatus
from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.records import Run
from fastflow.runs.ports import ExecutionResult, RunControl, RunSpec, RunStatuses

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
        supervise_in: Path | None = None,
        sandbox: RunSandbox | None = None,
        launcher: SupervisorLauncher | None = None,
        stop_with_parent: bool = False,
        health_timeout: float | None = None,
        warm: WarmPool | None = None,
    ) -> None:
        """`supervise_in`: the runs' work folder; set, each run gets a supervisor process.
        `sandbox`: how runs are confined (None: not at all, only for tests of other parts).
        `launcher`: forks the supervisors (a worker shares one between its runs).
        `stop_with_parent`: supervisors cancel their run when this process ends (a worker's:
        nobody else would carry the run's events to the server).
        `health_timeout`: FASTFLOW_HEALTH_TIMEOUT, for pipelines without `health_timeout`.
        `warm`: the warm interpreters runs fork from (None: every run starts cold)."""
        self.envs = envs
        self.warm = warm
        self.sandbox = sandbox
        self.health_timeout = health_timeout
        # Runs executing now: their job and log, for `health`.
        self._running: dict[str, tuple[ProcessJob, Path]] = {}
        self.cancel_grace = cancel_grace
        self.metrics_interval = metrics_interval
        self.max_line_bytes = max_line_bytes
        self.supervise_in = supervise_in
        if launcher is None and supervise_in is not None:
            launcher = SupervisorLauncher()
        self._launcher = launcher
        self.stop_with_parent = stop_with_parent

    @property
    def outlives_server(self) -> bool:
        """Supervised runs go on without the server, unless they stop with their parent."""
        return self.supervise_in is not None and not self.stop_with_parent

    async def execute(
        self, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        refusal = self.sandbox.refusal(spec) if self.sandbox is not None else None
        if refusal is not None:
            return ExecutionResult(RunStatus.FAILED, failure_kind=FailureKind.SETUP, error=refusal)
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
        if control.on_stage is not None:
            control.on_stage("environment")
        # Folders, policy, warm interpreter and the supervisor's folder: one worker thread.
        prepared, warm, why_cold, errors = await asyncio.to_thread(self._ready, spec, env.python)
        if control.on_stage is not None:
            control.on_stage("prepared")
        if prepared.warning:
            recorder.system(f"warning: {prepared.warning}")
        if why_cold:
            recorder.system(f"started cold: {why_cold}")
        job = self._job(spec, env.python, prepared, warm)
        self._running[spec.run_id] = (job, recorder.log_path)
        try:
            if errors is None:
                outcome = await run_inline(job, recorder, control)
            else:
                handle = await start_supervisor(
                    self._control_dir(spec.run_id),
                    job,
                    recorder,
                    spec.secret_values,
                    self._launcher,
                    self.stop_with_parent,
                    errors,
                )
                if control.on_stage is not None:
                    control.on_stage("supervisor")
                outcome = await handle.wait(recorder, control)
        finally:
            self._running.pop(spec.run_id, None)
            if self.sandbox is not None:
                await asyncio.to_thread(self.sandbox.cleanup, spec)
        record_start(self.warm, spec, outcome.start, why_cold)
        result = _result(outcome)
        result.uv_version = uv_version
        result.setup_duration = round(env.setup_duration, 4)
        return result

    async def warm_up(self, pipeline: PipelineDefinition) -> None:
        """Pre-heat: start the warm interpreter of a pipeline whose environment is built."""
        if self.supervise_in is not None:
            python = self.envs.path_for(pipeline) / "bin" / "python"
            await pre_heat(self.warm, self.sandbox, pipeline, python, self.supervise_in)

    def _ready(
        self, spec: RunSpec, python: Path
    ) -> tuple[PreparedRun, WarmTarget | None, str | None, BinaryIO | None]:
        """The run's folders and policy; the warm interpreter it forks from (warm or cold:
        the warm machinery lives in executors/warm) or why it starts cold; the supervisor's
        folder made and its log open (None: no supervisor)."""
        prepared = self._prepare(spec, python)
        warm, why_cold = warm_target(self.warm, spec, python, prepared)
        errors = None
        if self.supervise_in is not None:
            errors = prepare_control(self._control_dir(spec.run_id))
        return prepared, warm, why_cold, errors

    def _prepare(self, spec: RunSpec, python: Path) -> PreparedRun:
        if self.sandbox is None:
            _prepare_dirs(spec)
            return PreparedRun(None, {})
        return self.sandbox.prepare(spec, python.parent.parent, python)

    def _job(
        self, spec: RunSpec, python: Path, prepared: PreparedRun, warm: WarmTarget | None
    ) -> ProcessJob:
        config = spec.pipeline.config
        return ProcessJob(
            run_id=spec.run_id,
            argv=[str(python), str(spec.pipeline.entrypoint)],
            cwd=str(spec.work_dir),
            env={**spec.env, **prepared.env},
            sandbox=prepared.policy.to_dict() if prepared.policy else None,
            metrics_path=str(spec.metrics_path),
            timeout=spec.timeout,
            cpu_hard=config.cpu_hard_limit,
            cpu_soft=config.cpu_soft_limit,
            mem_hard_bytes=config.mem_hard_limit_bytes,
            mem_soft_bytes=config.mem_soft_limit_bytes,
            cancel_grace=self.cancel_grace,
            metrics_interval=self.metrics_interval,
            max_line_bytes=self.max_line_bytes,
            health_timeout=config.health_timeout or self.health_timeout,
            warm=warm.to_dict() if warm is not None else None,
        )

    async def health(self, run_id: str) -> dict[str, Any] | None:
        """How a run executing here is doing: how long it has been silent (the supervisor
        stops it as UNHEALTHY past its health timeout)."""
        found = self._running.get(run_id)
        if found is None:
            return None
        job, log_path = found
        try:
            last_write: float | None = (await asyncio.to_thread(log_path.stat)).st_mtime
        except OSError:
            last_write = None
        silent = None if last_write is None else max(0.0, time.time() - last_write)
        limit = job.health_timeout
        healthy = limit is None or silent is None or silent <= limit
        return {
            "healthy": healthy,
            "reason": None if healthy else f"no output or progress for {silent:.0f}s",
            "checked_at": datetime.now(UTC).isoformat(),
            "seconds_since_output": None if silent is None else round(silent, 1),
            "health_timeout": limit,
        }

    def close(self) -> None:
        """Stop the supervisor launcher; running supervisors are not affected. (The warm
        interpreters belong to whoever made the pool: the server's services, a worker.)"""
        if self._launcher is not None:
            self._launcher.close()

    def abandon(self, run: Run) -> str:
        """Stop the process group of a run whose supervisor is gone (no server followed it)."""
        if run.pid is not None:
            kill_orphan(run.pid, run.started_at.timestamp() if run.started_at else None)
        return (
            "the server stopped while this run was running; its process was stopped and "
            "its output after that point is lost"
        )

    def sweep(self, statuses: RunStatuses, dry_run: bool) -> list[str]:
        """Nothing outlives a local run but its work folder, which retention removes."""
        return []

    def _control_dir(self, run_id: str) -> Path:
        assert self.supervise_in is not None
        return self.supervise_in / run_id / "supervisor"

    async def reattachable(self, run_ids: Collection[str]) -> dict[str, str] | None:
        """Runs whose supervisor is still running, or finished while no server was there."""
        if self.supervise_in is None:
            return {}
        found: dict[str, str] = {}
        for run_id in run_ids:
            control_dir = self._control_dir(run_id)
            if await asyncio.to_thread(find_supervisor, control_dir) is not None:
                found[run_id] = str(control_dir)
        return found

    async def reattach(
        self, handle: str, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        """Follow a supervisor a previous server started, to the run's end."""
        supervisor = await asyncio.to_thread(find_supervisor, Path(handle))
        if supervisor is None:
            # The supervisor may have appended to the log since the recorder was opened:
            # continue the file after its last seq.
            await asyncio.to_thread(recorder.handover)
            await asyncio.to_thread(recorder.take_back)
            return ExecutionResult(
                RunStatus.FAILED,
                failure_kind=FailureKind.LOST,
                error="the run's supervisor ended without leaving a result",
            )
        try:
            return _result(await supervisor.wait(recorder, control))
        finally:
            if self.sandbox is not None:
                await asyncio.to_thread(self.sandbox.cleanup, spec)


def _prepare_dirs(spec: RunSpec) -> None:
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    spec.artifacts_dir.mkdir(parents=True, exist_ok=True)


def _result(outcome: ProcessOutcome) -> ExecutionResult:
    return ExecutionResult(
        RunStatus(outcome.status),
        outcome.exit_code,
        FailureKind(outcome.failure_kind) if outcome.failure_kind else None,
        outcome.error,
    )
