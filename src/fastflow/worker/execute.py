"""Executing one dispatched run on a worker: claim, fetch code, run, stream events.

The events a run emits go through the same `RunRecorder` as in embedded mode, with a
`RedisStreamWriter` in place of the log file; the server turns the stream into the log.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from pathlib import Path
from typing import Any

from fastflow.dispatch.celery_messages import RunMessage
from fastflow.events.mirror import MirroredWriter
from fastflow.events.recorder import RunRecorder
from fastflow.events.redis_sink import RedisStreamWriter
from fastflow.executors.base import ExecutionResult, Executor, RunControl
from fastflow.executors.local import LocalExecutor
from fastflow.executors.uv_env import EnvironmentCache
from fastflow.models import FAILURE_MESSAGES, FailureKind, RunStatus
from fastflow.pipelines.discovery import PipelineCatalog, PipelineDefinition
from fastflow.runs.spec import build_run_spec
from fastflow.worker.runtime import CLAIM_LOST, WorkerRuntime
from fastflow.worker.server_api import ServerError

log = logging.getLogger(__name__)


def run_task(runtime: WorkerRuntime, raw: dict[str, Any]) -> str:
    """The body of the Celery task: 'done', or 'dropped' for a run claimed before."""
    message = RunMessage.model_validate(raw)
    if runtime.cancel_reason(message.run_id) is not None:
        log.info("run %s: cancelled before it started, message dropped", message.run_id)
        return "dropped"
    if not runtime.claim(message.run_id):
        # A redelivered message (worker lost, visibility timeout): never execute twice.
        log.info("run %s: claimed before, message dropped", message.run_id)
        return "dropped"
    try:
        asyncio.run(_execute(runtime, message))
    finally:
        runtime.detach(message.run_id)
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
    envs = EnvironmentCache(
        settings.envs_dir, settings.resolved_uv_cache_dir, base_python=runtime.base_python
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
    )


async def _execute(runtime: WorkerRuntime, m: RunMessage) -> None:
    stream = RedisStreamWriter(runtime.redis, runtime.keys.events(m.run_id))
    work = runtime.settings.work_dir / m.run_id
    await asyncio.to_thread(work.mkdir, parents=True, exist_ok=True)
    # The run's events are numbered into a log file here (a local run's supervisor writes
    # it as on a server) and sent to the stream the server ingests, with the same numbers.
    events = work / "events.log"

    def mirrored() -> MirroredWriter:
        return MirroredWriter(events, stream)

    recorder = RunRecorder(
        m.run_id, events, writer=mirrored(), reopen=mirrored, relay_to=stream.append_numbered
    )
    control = RunControl()
    runtime.attach(m.run_id, control)
    try:
        result = await _run(runtime, m, recorder, control, work)
    except Exception as exc:
        log.exception("run %s: executor failed", m.run_id)
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
    message = result.error
    if result.failure_kind is not None and not message:
        message = FAILURE_MESSAGES[result.failure_kind]
    if message and result.status is not RunStatus.SUCCESS:
        recorder.error(message)
    # The files go to the server before `complete`: once the run is settled there, the
    # server takes nothing more for it.
    kept = await asyncio.to_thread(
        runtime.server.upload_artifacts, m.run_id, work / "artifacts", recorder
    )
    # Kept on the server now (or refused and reported): as in embedded mode, not here.
    await asyncio.to_thread(shutil.rmtree, work / "artifacts", ignore_errors=True)
    recorder.complete(
        status=result.status.value,
        success=result.status is RunStatus.SUCCESS,
        exit_code=result.exit_code,
        failure_kind=result.failure_kind.value if result.failure_kind else None,
        error=message if result.status is not RunStatus.SUCCESS else None,
        artifacts=kept,
        worker=runtime.id,
        uv_version=result.uv_version,
        setup_duration=result.setup_duration,
    )
    await asyncio.to_thread(recorder.close)
    await asyncio.to_thread(stream.close)  # what Redis did not take yet, retried a while
    await asyncio.to_thread(_remove_local_log, work)


def _remove_local_log(work: Path) -> None:
    """Delivered to the server: the worker's copy of the log goes."""
    (work / "events.log").unlink(missing_ok=True)
    shutil.rmtree(work / "supervisor", ignore_errors=True)


async def _run(
    runtime: WorkerRuntime, m: RunMessage, recorder: RunRecorder, control: RunControl, work: Path
) -> ExecutionResult:
    recorder.status(RunStatus.RUNNING.value, progress=0, text=f"on worker {runtime.id}")
    reason = await asyncio.to_thread(runtime.cancel_reason, m.run_id)
    if reason is not None:
        return ExecutionResult(RunStatus.CANCELLED, error="cancelled before start")
    started = time.monotonic()
    try:
        root = await asyncio.to_thread(runtime.bundle, m.bundle)
        pipeline = PipelineCatalog(root).get(m.pipeline)
    except Exception as exc:
        return ExecutionResult(
            RunStatus.FAILED,
            failure_kind=FailureKind.SETUP,
            error=f"could not get the pipeline's code from the server: {exc}",
        )
    if not pipeline.valid:
        return ExecutionResult(
            RunStatus.FAILED, failure_kind=FailureKind.SETUP, error=pipeline.error
        )
    log.info(
        "run %s: bundle %s ready in %.3fs", m.run_id, m.bundle[:12], time.monotonic() - started
    )
    name = executor_name(runtime, m, pipeline)
    executor = _executor(runtime, name)
    if executor is None:
        return ExecutionResult(
            RunStatus.FAILED,
            failure_kind=FailureKind.ENGINE_ERROR,
            error=f"executor {name!r} is not available on worker {runtime.id}",
        )
    if name != m.executor:
        recorder.system(f"executor {name} (this worker's EXECUTOR), not {m.executor}")
        # The server records the executor that really runs the run from this event.
        recorder.status(RunStatus.RUNNING.value, extra={"executor": name})
    try:
        # Fetched now, over HTTP from the server: secrets never travel in the task message.
        run_secrets = await asyncio.to_thread(runtime.server.run_secrets, m.run_id)
    except ServerError as exc:
        return ExecutionResult(
            RunStatus.FAILED,
            failure_kind=FailureKind.SETUP,
            error=f"could not get the run's secrets from the server: {exc}",
        )
    # From here on every line, status text and error of the run is masked before it is
    # numbered and sent to Redis, exactly as the server's engine masks local runs.
    masker = run_secrets.masker()
    if masker:
        recorder.set_filters(masker, masker.fragment)
    spec = build_run_spec(
        run_id=m.run_id,
        pipeline=pipeline,
        pipeline_name=m.pipeline,
        attempt=m.attempt,
        parameters={k: str(v) for k, v in m.parameters.items()},
        run_secrets=run_secrets,
        work_root=runtime.settings.work_dir,
        metrics_path=work / "metrics.jsonl",
        timeout=m.timeout,
    )
    return await executor.execute(spec, recorder, control)
