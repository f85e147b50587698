"""One run's way through an executor: prepare → execute → record, for server and worker alike.

The server's engine and `fastflow worker` both execute a claimed run through `RunExecution`;
they differ only in the ports they give it: where the code comes from (PIPELINES_DIR or an
upload; a bundle from the server), where the secrets come from (the store; the server over
HTTP), which executors exist, and where the run's files go.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastflow.errors import FastflowError
from fastflow.events.recorder import RunRecorder
from fastflow.models import FailureKind, RunStatus
from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.runs.outcome import record_outcome
from fastflow.runs.ports import (
    ExecutionResult,
    Executor,
    RunControl,
    RunOutputs,
    RunSpec,
    Ticket,
)
from fastflow.runs.spec import build_run_spec
from fastflow.secrets.service import RunSecrets


class CannotExecute(Exception):
    """The run cannot start: its code, secrets or executor are not to be had here."""

    def __init__(self, message: str, kind: FailureKind = FailureKind.SETUP) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind


class Place:
    """Where a run executes: the parts that differ between the server and a worker.

    Each method may raise `CannotExecute` (or `FastflowError`, a setup failure)."""

    def pipeline(self, ticket: Ticket) -> PipelineDefinition:
        raise NotImplementedError

    def executor(
        self, ticket: Ticket, pipeline: PipelineDefinition, recorder: RunRecorder
    ) -> Executor:
        raise NotImplementedError

    def secrets(self, ticket: Ticket, pipeline: PipelineDefinition) -> RunSecrets:
        raise NotImplementedError


@dataclass(frozen=True)
class Prepared:
    executor: Executor
    spec: RunSpec


class RunExecution:
    def __init__(
        self,
        place: Place,
        outputs: RunOutputs | None,
        work_root: Path,
        metrics_path: Callable[[str], Path],
        default_timeout: float | None = None,
        status_text: str | None = None,
    ) -> None:
        """`outputs`: keeps a finished run's artifacts (None: their names are listed only).
        `default_timeout`: CONTAINER_TIMEOUT, for pipelines without a `timeout`.
        `status_text`: said with the run's first RUNNING status (e.g. which worker)."""
        self.place = place
        self.outputs = outputs
        self.work_root = work_root
        self.metrics_path = metrics_path
        self.default_timeout = default_timeout
        self.status_text = status_text

    async def run(
        self,
        ticket: Ticket,
        recorder: RunRecorder,
        control: RunControl,
        on_started: Callable[[int], None] | None = None,
    ) -> ExecutionResult:
        """Prepare and execute; a run that cannot start is reported, never raised."""
        recorder.status(RunStatus.RUNNING.value, progress=0, text=self.status_text)
        if ticket.cancel_requested:
            return ExecutionResult(RunStatus.CANCELLED, error="cancelled before start")
        try:
            prepared = await asyncio.to_thread(self.prepare, ticket, recorder)
        except CannotExecute as exc:
            return ExecutionResult(RunStatus.FAILED, failure_kind=exc.kind, error=exc.message)
        control.on_started = on_started
        control.outlives_server = prepared.executor.outlives_server
        return await prepared.executor.execute(prepared.spec, recorder, control)

    def prepare(self, ticket: Ticket, recorder: RunRecorder, elapsed: float = 0.0) -> Prepared:
        """The run's pipeline, executor, secrets and spec; from here on the recorder masks
        every line, status text and error of the run. Raises CannotExecute."""
        try:
            pipeline = self.place.pipeline(ticket)
        except FastflowError as exc:
            raise CannotExecute(exc.message) from exc
        except CannotExecute:
            raise
        except Exception as exc:
            raise CannotExecute(str(exc)) from exc
        if not pipeline.valid:
            raise CannotExecute(pipeline.error or "the pipeline is not valid")
        executor = self.place.executor(ticket, pipeline, recorder)
        run_secrets = self.secrets(ticket, pipeline, recorder)
        return Prepared(executor, self.spec(ticket, pipeline, run_secrets, elapsed))

    def secrets(
        self, ticket: Ticket, pipeline: PipelineDefinition, recorder: RunRecorder
    ) -> RunSecrets:
        """The run's secrets, with the recorder masking their values from now on."""
        try:
            run_secrets = self.place.secrets(ticket, pipeline)
        except FastflowError as exc:
            raise CannotExecute(exc.message) from exc
        masker = run_secrets.masker()
        if masker:
            recorder.set_filters(masker, masker.fragment)
        return run_secrets

    def spec(
        self,
        ticket: Ticket,
        pipeline: PipelineDefinition,
        run_secrets: RunSecrets,
        elapsed: float = 0.0,
    ) -> RunSpec:
        """What the executor needs; `elapsed` shortens the timeout of a resumed run."""
        timeout = ticket.timeout
        if timeout is None:
            timeout = pipeline.config.timeout or self.default_timeout
        return build_run_spec(
            run_id=ticket.run_id,
            pipeline=pipeline,
            pipeline_name=ticket.pipeline_name,
            attempt=ticket.attempt,
            parameters={k: str(v) for k, v in ticket.parameters.items()},
            run_secrets=run_secrets,
            work_root=self.work_root,
            metrics_path=self.metrics_path(ticket.run_id),
            timeout=timeout,
            elapsed=elapsed,
        )

    def record(
        self, ticket: Ticket, recorder: RunRecorder, result: ExecutionResult, **extra: Any
    ) -> dict[str, Any]:
        """Write the run's end into its log (artifacts kept first); the `complete` fields."""
        folder = self.work_root / ticket.run_id / "artifacts"

        def artifacts() -> list[str]:
            if self.outputs is None:
                return artifact_names(folder)
            return self.outputs.keep_artifacts(ticket.run_id, folder, recorder)

        return record_outcome(recorder, result, artifacts, **extra)


def artifact_names(folder: Path) -> list[str]:
    if not folder.is_dir():
        return []
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
