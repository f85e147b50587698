"""RunEngine: takes a claimed run from RUNNING to its end, and settles runs left behind.

The only place run state changes after a run starts. It writes the `complete` event to the
log before the database, so the log is always at least as far along as the database, and a
crash between the two is settled from the log on the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, Protocol

import psutil

from fastflow.errors import FastflowError
from fastflow.events import types as ev
from fastflow.events.fanout import EventFanout
from fastflow.events.log import read_events
from fastflow.events.recorder import RunRecorder
from fastflow.executors.base import (
    ExecutionResult,
    Executor,
    HealthReporting,
    Reattaching,
    RunControl,
    RunSpec,
)
from fastflow.models import FAILURE_MESSAGES, FailureKind, RunStatus, Trigger
from fastflow.pipelines.discovery import PipelineCatalog, PipelineDefinition
from fastflow.runs.spec import build_run_spec, secrets_for_run
from fastflow.secrets.service import RunSecrets, SecretService
from fastflow.settings import RunsOnShutdown, Settings
from fastflow.storage.pipeline_store import PipelineStore
from fastflow.storage.run_store import RunStore
from fastflow.storage.tables import Run

log = logging.getLogger(__name__)

_PROGRESS_DB_INTERVAL = 0.5


class RunOutputs(Protocol):
    """What happens to a finished run's files (artifacts into object storage, log archive)."""

    def keep_artifacts(self, run_id: str, folder: Path, recorder: RunRecorder) -> list[str]:
        """Keep the files under `folder`; returns the kept paths. Never raises."""
        ...

    def archive_log(self, run_id: str, log_path: Path, metrics_path: Path) -> None: ...


class RunEngine:
    def __init__(
        self,
        settings: Settings,
        runs: RunStore,
        pipelines: PipelineStore,
        catalog: PipelineCatalog,
        executors: dict[str, Executor],
        fanout: EventFanout,
        secrets: SecretService | None = None,
    ) -> None:
        self.settings = settings
        self.secrets = secrets
        self.runs = runs
        self.pipelines = pipelines
        self.catalog = catalog
        self.executors = executors
        self.fanout = fanout
        self.submit: Callable[[str], None] = lambda run_id: None
        # Called (in a worker thread) with the final row of every run that ends; listeners
        # such as outbound webhooks and the scheduler's queue policy hang off here.
        self.on_finished: list[Callable[[Run], None]] = []
        # Wired by build_services: where a run's code comes from (PIPELINES_DIR or an upload)
        # and what becomes of its files.
        self.resolve: Callable[[Run], PipelineDefinition] = lambda run: catalog.get(
            run.pipeline_name
        )
        self.outputs: RunOutputs | None = None
        self._controls: dict[str, RunControl] = {}
        self._resumed: dict[str, asyncio.Task[None]] = {}

    def log_path(self, run_id: str) -> Path:
        return self.settings.logs_dir / f"{run_id}.log"

    def metrics_path(self, run_id: str) -> Path:
        return self.settings.logs_dir / f"{run_id}_metrics.jsonl"

    def request_cancel(self, run_id: str, reason: str = "cancel requested") -> bool:
        """Ask a run executing here to stop; False when it does not execute here."""
        control = self._controls.get(run_id)
        if control is None:
            return False
        control.cancel_reason = reason
        control.cancel_requested.set()
        return True

    @property
    def active_run_ids(self) -> list[str]:
        return list(self._controls)

    def open_recorder(self, run_id: str) -> RunRecorder:
        """The recorder of a run executing here: its log file, the fan-out, LOG_MAX_SIZE_MB."""
        max_mb = self.settings.log_max_size_mb
        return RunRecorder(
            run_id,
            self.log_path(run_id),
            self.fanout,
            max_log_bytes=int(max_mb * 1024 * 1024) if max_mb else None,
        )

    async def execute(self, run: Run) -> None:
        """Execute one claimed (RUNNING) run to its end; never raises."""
        control = RunControl()
        self._controls[run.id] = control
        recorder = await asyncio.to_thread(self.open_recorder, run.id)
        await self._to_the_end(run, recorder, self._execute(run, recorder, control), "executing")

    async def _to_the_end(
        self,
        run: Run,
        recorder: RunRecorder,
        work: Coroutine[Any, Any, ExecutionResult],
        doing: str,
    ) -> None:
        """Await `work` and record the outcome; a failure of fastflow's own fails the run."""
        try:
            result = await work
        except Exception as exc:
            log.exception("run %s: %s the run failed", run.id, doing)
            result = ExecutionResult(
                RunStatus.FAILED,
                failure_kind=FailureKind.ENGINE_ERROR,
                error=f"internal error while {doing} the run: {exc}",
            )
        finally:
            self._controls.pop(run.id, None)
        await asyncio.to_thread(self._finish, run, recorder, result)

    async def _execute(
        self, run: Run, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        recorder.status(RunStatus.RUNNING.value, progress=0)
        self._track_progress(run.id, recorder)
        if run.cancel_requested:
            return ExecutionResult(RunStatus.CANCELLED, error="cancelled before start")
        try:
            pipeline = await asyncio.to_thread(self.resolve, run)
        except Exception as exc:
            return ExecutionResult(RunStatus.FAILED, failure_kind=FailureKind.SETUP, error=str(exc))
        if not pipeline.valid:
            return ExecutionResult(
                RunStatus.FAILED, failure_kind=FailureKind.SETUP, error=pipeline.error
            )
        executor_name = pipeline.config.executor or self.settings.executor.value
        executor = self.executors.get(executor_name)
        if executor is None:
            return ExecutionResult(
                RunStatus.FAILED,
                failure_kind=FailureKind.ENGINE_ERROR,
                error=f"executor {executor_name!r} is not available on this server",
            )
        try:
            run_secrets = await asyncio.to_thread(self._secrets_for, run, pipeline.config.secrets)
        except FastflowError as exc:
            return ExecutionResult(
                RunStatus.FAILED, failure_kind=FailureKind.SETUP, error=exc.message
            )
        # From here on every line, status text and error of the run is masked.
        masker = run_secrets.masker()
        if masker:
            recorder.set_filters(masker, masker.fragment)
        spec = self._spec(run, pipeline, run_secrets)
        control.on_started = lambda pid: self._on_started(run.id, pid)
        control.outlives_server = bool(getattr(executor, "runs_outlive_server", False))
        return await executor.execute(spec, recorder, control)

    def _spec(
        self,
        run: Run,
        pipeline: PipelineDefinition,
        run_secrets: RunSecrets,
        elapsed: float = 0.0,
    ) -> RunSpec:
        """What the executor needs for `run`; `elapsed` shortens the timeout of a resumed run."""
        return build_run_spec(
            run_id=run.id,
            pipeline=pipeline,
            pipeline_name=run.pipeline_name,
            attempt=run.attempt,
            parameters=run.parameters,
            run_secrets=run_secrets,
            work_root=self.settings.work_dir,
            metrics_path=self.metrics_path(run.id),
            timeout=pipeline.config.timeout or self.settings.container_timeout,
            elapsed=elapsed,
        )

    async def health(self, run_id: str) -> dict[str, Any] | None:
        """A health check of a run executing here, by its executor (None: not here)."""
        if run_id not in self._controls:
            return None
        for executor in self.executors.values():
            if isinstance(executor, HealthReporting):
                found = await executor.health(run_id)
                if found is not None:
                    return found
        return {"healthy": None, "reason": "this executor does not run health checks"}

    def _secrets_for(self, run: Run, wanted: list[str] | None) -> RunSecrets:
        """The store's entries for this run; records the env it sees with secrets as `***`."""
        return secrets_for_run(self.secrets, self.runs, run, wanted)

    def _on_started(self, run_id: str, pid: int) -> None:
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, functools.partial(self.runs.update, run_id, pid=pid))

    def _track_progress(self, run_id: str, recorder: RunRecorder) -> None:
        """Mirror progress into the database, at most twice a second per run."""
        last = 0.0
        loop = asyncio.get_running_loop()

        def listener(events: list[ev.Event]) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < _PROGRESS_DB_INTERVAL:
                return
            for event in reversed(events):
                if event["type"] == ev.STATUS and "progress" in event:
                    last = now
                    update = functools.partial(
                        self.runs.update,
                        run_id,
                        progress=event["progress"],
                        progress_text=event.get("text"),
                    )
                    # Called from capture threads: hand the write to the loop's executor.
                    loop.call_soon_threadsafe(loop.run_in_executor, None, update)
                    return

        recorder.add_listener(listener)

    def _finish(self, run: Run, recorder: RunRecorder, result: ExecutionResult) -> None:
        """Record the outcome: `complete` in the log, then the database, stats, retries."""
        message = result.error
        if result.failure_kind is not None and not message:
            message = FAILURE_MESSAGES[result.failure_kind]
        if message:
            message = recorder.filter_text(message)
        if message and result.status is not RunStatus.SUCCESS:
            recorder.error(message)
        complete = _complete_fields(result, message)
        folder = self.settings.work_dir / run.id / "artifacts"
        if self.outputs is None:
            complete["artifacts"] = _artifact_names(folder)
        else:
            complete["artifacts"] = self.outputs.keep_artifacts(run.id, folder, recorder)
        recorder.complete(**complete)
        recorder.close()
        if self.outputs is not None:
            self.outputs.archive_log(run.id, self.log_path(run.id), self.metrics_path(run.id))
        self._settle(run, result.status, complete, result)

    def _settle(
        self,
        run: Run,
        status: RunStatus,
        complete: dict[str, Any],
        result: ExecutionResult | None = None,
    ) -> None:
        fields: dict[str, Any] = {
            "exit_code": complete.get("exit_code"),
            "failure_kind": complete.get("failure_kind"),
            "error_message": complete.get("error"),
            "log_file": str(self.log_path(run.id)),
            "metrics_file": str(self.metrics_path(run.id)),
        }
        if status is RunStatus.SUCCESS:
            fields["progress"] = 100
        if result is not None:
            fields["uv_version"] = result.uv_version
            fields["setup_duration"] = result.setup_duration
        finished = self.runs.finish(run.id, status, **fields)
        if finished is None:
            return  # settled already (e.g. by recovery): count it once
        retryable = status in (RunStatus.FAILED, RunStatus.TIMED_OUT)
        if retryable and run.attempt < run.max_attempts:
            self._retry(run)
        self.notify_finished(run.id, finished)

    def notify_finished(self, run_id: str, final: Run | None = None) -> None:
        """Tell every `on_finished` listener that a run ended; a failing listener is logged."""
        if not self.on_finished:
            return
        if final is None:
            final = self.runs.get(run_id)
        for listener in list(self.on_finished):
            try:
                listener(final)
            except Exception:
                log.exception("run %s: a run-finished listener failed", run_id)

    def _retry(self, run: Run) -> None:
        follow = Run(
            pipeline_name=run.pipeline_name,
            trigger=Trigger.RETRY.value,
            attempt=run.attempt + 1,
            max_attempts=run.max_attempts,
            parent_run_id=run.id,
            schedule_id=run.schedule_id,
            triggered_by=run.triggered_by,
            executor=run.executor,
            parameters=run.parameters,
            env_vars=run.env_vars,
            source=run.source,
        )
        follow.log_file = str(self.log_path(follow.id))
        follow.metrics_file = str(self.metrics_path(follow.id))
        self.runs.create(follow)
        log.info("run %s: attempt %d failed, retrying as %s", run.id, run.attempt, follow.id)
        self.submit(follow.id)

    async def recover(self) -> int:
        """Settle runs a previous server left RUNNING: record those that finished, re-attach
        those whose executor still has them (containers), mark the rest LOST.

        Returns how many runs were settled or re-attached.
        """
        runs = await asyncio.to_thread(self.runs.with_status, RunStatus.RUNNING)
        orphans = [r for r in runs if r.id not in self._controls and r.id not in self._resumed]
        handles: dict[str, dict[str, str]] = {}
        for name, executor in self.executors.items():
            if isinstance(executor, Reattaching):
                ids = [r.id for r in orphans if r.executor == name]
                handles[name] = await executor.reattachable(ids) or {}
        for run in orphans:
            handle = handles.get(run.executor, {}).get(run.id)
            if handle is not None and not await asyncio.to_thread(self._finished_in_log, run):
                self._resume(run, handle)
            else:
                await asyncio.to_thread(self._recover_one, run)
        return len(orphans)

    def _finished_in_log(self, run: Run) -> bool:
        path = self.log_path(run.id)
        return next(iter(read_events(path, types=frozenset({ev.COMPLETE}))), None) is not None

    def _resume(self, run: Run, handle: str) -> None:
        control = RunControl(outlives_server=True)
        self._controls[run.id] = control
        task = asyncio.create_task(self._resume_run(run, handle, control), name=f"resume-{run.id}")
        self._resumed[run.id] = task
        task.add_done_callback(lambda _t: self._resumed.pop(run.id, None))

    async def _resume_run(self, run: Run, handle: str, control: RunControl) -> None:
        recorder = await asyncio.to_thread(self.open_recorder, run.id)
        self._track_progress(run.id, recorder)
        reattaching = self._reattach(run, handle, recorder, control)
        await self._to_the_end(run, recorder, reattaching, "re-attaching")

    async def _reattach(
        self, run: Run, handle: str, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        executor = self.executors[run.executor]
        assert isinstance(executor, Reattaching)
        try:
            pipeline = await asyncio.to_thread(self.resolve, run)
        except Exception:
            # The pipeline's files are gone; supervise the run with default limits.
            pipeline = PipelineDefinition(
                run.pipeline_name, "folder", Path(run.pipeline_name), Path("main.py")
            )
        # The run's process (or container) still holds the secrets it started with; the
        # lines it prints from here on are masked like before the restart.
        run_secrets = await asyncio.to_thread(self._secrets_for, run, pipeline.config.secrets)
        masker = run_secrets.masker()
        if masker:
            recorder.set_filters(masker, masker.fragment)
        started = run.started_at.timestamp() if run.started_at else time.time()
        spec = self._spec(run, pipeline, run_secrets, elapsed=time.time() - started)
        log.info("run %s: re-attaching to %s (%s)", run.id, handle, run.executor)
        return await executor.reattach(handle, spec, recorder, control)

    def keeps_on_shutdown(self, run_id: str) -> bool:
        """Whether a stopping server leaves this run to its successor (not cancels it)."""
        control = self._controls.get(run_id)
        keep = self.settings.runs_on_shutdown is RunsOnShutdown.KEEP
        return keep and control is not None and control.outlives_server

    async def stop(self) -> None:
        """Stop re-attached runs (the dispatcher stops the runs it started)."""
        for run_id, task in list(self._resumed.items()):
            if self.keeps_on_shutdown(run_id):
                task.cancel()  # stop following it; the next server re-attaches
            else:
                self.request_cancel(run_id, "the server shut down")
        if self._resumed:
            await asyncio.wait(list(self._resumed.values()), timeout=30)

    def _recover_one(self, run: Run) -> None:
        path = self.log_path(run.id)
        done = next(iter(read_events(path, types=frozenset({ev.COMPLETE}))), None)
        if done is not None:
            log.info("run %s: finished before the restart; recording it", run.id)
            self._settle(run, RunStatus(done["status"]), done)
            return
        if run.pid is not None:
            _kill_orphan(run.pid, run.started_at.timestamp() if run.started_at else None)
        self.settle_failed(
            run,
            "the server stopped while this run was running; its process was stopped and "
            "its output after that point is lost"
            if run.executor != "docker"
            else "the server stopped while this run was running, and its container was not "
            "found afterwards (or the container engine could not be reached)",
        )

    def settle_failed(self, run: Run, message: str, kind: FailureKind = FailureKind.LOST) -> None:
        """End a run that no executor will finish: error + `complete` in its log, then the DB.

        Retried per its policy like any failure (a LOST remote run gets a linked attempt).
        """
        recorder = RunRecorder(run.id, self.log_path(run.id), self.fanout)
        recorder.error(message)
        complete = {
            "status": RunStatus.FAILED.value,
            "success": False,
            "exit_code": None,
            "failure_kind": kind.value,
            "error": message,
            "artifacts": [],
        }
        recorder.complete(**complete)
        recorder.close()
        self._settle(run, RunStatus.FAILED, complete)

    def settle_remote(self, run: Run, complete: dict[str, Any]) -> None:
        """Record the outcome of a run a worker executed; its `complete` is in the log already."""
        result = ExecutionResult(
            RunStatus(complete["status"]),
            uv_version=complete.get("uv_version"),
            setup_duration=complete.get("setup_duration"),
        )
        self._settle(run, result.status, complete, result)


def _complete_fields(result: ExecutionResult, message: str | None) -> dict[str, Any]:
    return {
        "status": result.status.value,
        "success": result.status is RunStatus.SUCCESS,
        "exit_code": result.exit_code,
        "failure_kind": result.failure_kind.value if result.failure_kind else None,
        "error": message if result.status is not RunStatus.SUCCESS else None,
        "artifacts": [],
    }


def _artifact_names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _kill_orphan(pid: int, started_at: float | None) -> None:
    """Stop the process group of a run whose pipes died with the old server."""
    with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
        proc = psutil.Process(pid)
        # A recycled pid belongs to someone else: only a process that started with the run.
        if started_at is not None and proc.create_time() < started_at - 5:
            return
        os.killpg(pid, signal.SIGKILL)
