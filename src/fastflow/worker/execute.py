"""Executing one dispatched run on a worker: claim, fetch code, run, stream events.

The run goes through the same `RunExecution` as on the server (prepare → execute → record),
with the worker's place: code from the server's bundle, secrets from the server over HTTP,
artifacts uploaded to the server. Its events go through the same `RunRecorder`, with a
`RedisStreamWriter` beside the log file; the server turns the stream into the log.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from concurrent.futures import CancelledError, Future
from pathlib import Path
from typing import Any

from fastflow.dispatch.celery_messages import RunMessage
from fastflow.events.mirror import MirroredWriter
from fastflow.events.recorder import RunRecorder
from fastflow.events.redis_sink import RedisStreamWriter
from fastflow.executors.local import LocalExecutor
from fastflow.executors.uv_env import EnvironmentCache
from fastflow.models import FailureKind, RunStatus
from fastflow.monitoring.timings import StageClock
from fastflow.pipelines.discovery import PipelineCatalog, PipelineDefinition
from fastflow.runs.execution import CannotExecute, Place, RunExecution
from fastflow.runs.ports import ExecutionResult, Executor, RunControl, Ticket
from fastflow.secrets.service import RunSecrets
from fastflow.worker.runtime import CLAIM_LOST, WorkerRuntime
from fastflow.worker.server_api import ServerError

log = logging.getLogger(__name__)

_LOG_LINE = b'"type":"log"'


def run_task(runtime: WorkerRuntime, raw: dict[str, Any]) -> str:
    """The body of the Celery task: 'done', or 'dropped' for a run claimed before."""
    message = RunMessage.model_validate(raw)
    clock = StageClock(message.run_id, "worker", runtime.settings.log_timings)
    if message.sent_at is not None:
        clock.mark("sent", message.sent_at)
    clock.mark("dequeued")
    claim = runtime.claim(message.run_id)
    if claim.cancelled is not None:
        log.info("run %s: cancelled before it started, message dropped", message.run_id)
        return "dropped"
    if not claim.held:
        # A redelivered message (worker lost, visibility timeout): never execute twice.
        log.info("run %s: claimed before, message dropped", message.run_id)
        return "dropped"
    clock.mark("claimed")
    # Only now: this worker holds the claim (and its claim alone got the sealed secrets).
    secrets = runtime.fetch_secrets(message.run_id, claim.sealed)
    try:
        asyncio.run(_execute(runtime, message, clock, secrets))
    finally:
        runtime.detach(message.run_id)
        clock.mark("released")  # the slot is free for the next run (outside STAGES)
        clock.log()
    return "done"


def executor_name(runtime: WorkerRuntime, m: RunMessage, pipeline: PipelineDefinition) -> str:
    """Which executor runs `m` here: the pipeline's own choice (pipeline.json `executor`),
    else the worker's EXECUTOR when it sets one, else the server's (the run's `executor`)."""
    if pipeline.config.executor:
        return pipeline.config.executor
    if "executor" in runtime.settings.model_fields_set:
        return runtime.settings.executor.value
    return m.executor


def _executor(runtime: WorkerRuntime, name: str) -> Executor | None:
    settings = runtime.settings
    if name == "docker":
        # Shared by the process's runs: it holds the engine connection (thread-safe).
        return runtime.docker
    if name != "local":
        return None
    # One per run: its environment cache uses asyncio locks of the run's own event loop;
    # builds of the same environment across runs are serialized by a file lock.
    uv_bin, uv_version = runtime.uv_facts()  # asked once per worker process
    envs = EnvironmentCache(
        settings.envs_dir,
        settings.resolved_uv_cache_dir,
        uv_bin=uv_bin,
        base_python=runtime.base_python,
        uv_version=uv_version,
    )
    return LocalExecutor(
        envs,
        cancel_grace=settings.cancel_grace_seconds,
        metrics_interval=settings.metrics_interval,
        max_line_bytes=settings.max_line_bytes,
        # A supervisor per run, as on a server: it is the subreaper of the run's processes,
        # and it cancels the run should this worker die.
        supervise_in=settings.work_dir,
        sandbox=runtime.run_sandbox,
        launcher=runtime.launcher,
        stop_with_parent=True,
        health_timeout=settings.health_timeout,
        warm=runtime.warm,
    )


class WorkerPlace(Place):
    """Executing on a worker: code from the server's bundle, secrets from the server."""

    def __init__(
        self,
        runtime: WorkerRuntime,
        message: RunMessage,
        clock: StageClock,
        fetched: Future[RunSecrets],
    ) -> None:
        self.runtime = runtime
        self.message = message
        self.clock = clock
        self.fetched = fetched

    def pipeline(self, ticket: Ticket) -> PipelineDefinition:
        m = self.message
        started = time.monotonic()
        try:
            root = self.runtime.bundle(m.bundle)
            pipeline = PipelineCatalog(root).get(m.pipeline)
        except Exception as exc:
            raise CannotExecute(
                f"could not get the pipeline's code from the server: {exc}"
            ) from exc
        log.info(
            "run %s: bundle %s ready in %.3fs",
            m.run_id,
            m.bundle[:12],
            time.monotonic() - started,
            extra={"run_id": m.run_id, "action": "bundle"},
        )
        self.clock.mark("bundle")
        return pipeline

    def executor(
        self, ticket: Ticket, pipeline: PipelineDefinition, recorder: RunRecorder
    ) -> Executor:
        name = executor_name(self.runtime, self.message, pipeline)
        executor = _executor(self.runtime, name)
        if executor is None:
            raise CannotExecute(
                f"executor {name!r} is not available on worker {self.runtime.id}",
                FailureKind.ENGINE_ERROR,
            )
        if name != ticket.executor:
            recorder.system(f"executor {name} (this worker's EXECUTOR), not {ticket.executor}")
            # The server records the executor that really runs the run from this event.
            recorder.status(RunStatus.RUNNING.value, extra={"executor": name})
        return executor

    def secrets(self, ticket: Ticket, pipeline: PipelineDefinition) -> RunSecrets:
        try:
            # Handed over sealed with the claim, else over HTTP from the server (secrets never
            # travel in the task message) asked for as soon as the claim was held; waits here
            # for the answer if it is not in yet.
            found = self.fetched.result()
        except ServerError as exc:
            raise CannotExecute(f"could not get the run's secrets from the server: {exc}") from exc
        except CancelledError as exc:  # the worker is stopping: its fetches were dropped
            raise CannotExecute("the worker stopped before the run's secrets came") from exc
        self.clock.mark("secrets")
        return found


class _ToServer:
    """A worker's run outputs: artifacts go to the server (refused ones are reported)."""

    def __init__(self, runtime: WorkerRuntime) -> None:
        self.runtime = runtime

    def keep_artifacts(self, run_id: str, folder: Path, recorder: RunRecorder) -> list[str]:
        kept = self.runtime.server.upload_artifacts(run_id, folder, recorder)
        # Kept on the server now (or refused and reported): as in embedded mode, not here.
        shutil.rmtree(folder, ignore_errors=True)
        return kept

    def archive_log(self, run_id: str, log_path: Path, metrics_path: Path) -> None:
        """The server archives the log it ingested."""

    def restore_log(self, run_id: str, log_path: Path) -> bool:
        return False


async def _execute(
    runtime: WorkerRuntime, m: RunMessage, clock: StageClock, secrets: Future[RunSecrets]
) -> None:
    stream = RedisStreamWriter(runtime.redis, runtime.keys.events(m.run_id))
    work = runtime.settings.work_dir / m.run_id
    work.mkdir(parents=True, exist_ok=True)  # one syscall; this loop is the run's own
    # The run's events are numbered into a log file here (a local run's supervisor writes
    # it as on a server) and sent to the stream the server ingests, with the same numbers.
    events = work / "events.log"

    def mirrored() -> MirroredWriter:
        return MirroredWriter(events, stream)

    def relay_lines(data: bytes) -> None:
        if "first_line" not in clock.marks and _LOG_LINE in data:
            clock.mark("first_line")
        stream.append_lines(data)

    # What the supervisor writes goes on to the stream as the file's bytes, unparsed.
    recorder = RunRecorder(
        m.run_id,
        events,
        writer=mirrored(),
        reopen=mirrored,
        relay_to=stream.append_numbered,
        relay_lines_to=relay_lines if clock.enabled else stream.append_lines,
    )
    execution = RunExecution(
        WorkerPlace(runtime, m, clock, secrets),
        _ToServer(runtime),
        runtime.settings.work_dir,
        metrics_path=lambda run_id: runtime.settings.work_dir / run_id / "metrics.jsonl",
        status_text=f"on worker {runtime.id}",
    )
    control = RunControl(on_stage=clock.mark if clock.enabled else None)
    # From here on the heartbeat thread stops the run on a cancel; one asked for before is
    # read in the same round trip that publishes the run in this worker's record.
    reason = runtime.attach(m.run_id, control)
    ticket = Ticket(
        run_id=m.run_id,
        pipeline_name=m.pipeline,
        attempt=m.attempt,
        parameters=m.parameters,
        executor=m.executor,
        timeout=m.timeout,
        cancel_requested=reason is not None,
    )
    try:
        result = await execution.run(
            ticket, recorder, control, on_started=lambda _pid: clock.mark("supervisor")
        )
    except Exception as exc:
        log.exception("run %s: executor failed", m.run_id, extra={"run_id": m.run_id})
        result = ExecutionResult(
            RunStatus.FAILED,
            failure_kind=FailureKind.ENGINE_ERROR,
            error=f"internal error on worker {runtime.id}: {exc}",
        )
    if control.cancel_requested.is_set() and control.cancel_reason == CLAIM_LOST:
        # Nobody cancelled it: the server settles such a run as LOST, so say the same.
        result = ExecutionResult(
            RunStatus.FAILED,
            exit_code=result.exit_code,
            failure_kind=FailureKind.LOST,
            error=CLAIM_LOST,
        )
    clock.mark("exited")
    # The files go to the server before `complete`: once the run is settled there, the
    # server takes nothing more for it.
    await asyncio.to_thread(
        execution.record,
        ticket,
        recorder,
        result,
        worker=runtime.id,
        uv_version=result.uv_version,
        setup_duration=result.setup_duration,
    )
    await asyncio.to_thread(recorder.close)
    await asyncio.to_thread(stream.close)  # what Redis did not take yet, retried a while
    clock.mark("recorded")
    await asyncio.to_thread(_remove_local_log, work)


def _remove_local_log(work: Path) -> None:
    """Delivered to the server: the worker's copy of the log goes."""
    (work / "events.log").unlink(missing_ok=True)
    shutil.rmtree(work / "supervisor", ignore_errors=True)
