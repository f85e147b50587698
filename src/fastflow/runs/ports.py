"""The ports of the run lifecycle: what it needs from executors, dispatchers and sources.

Declared here, where runs are started, executed and settled; `executors/`, `dispatch/` and
`worker/` implement them and import this module — the lifecycle never imports them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fastflow.events.recorder import RunRecorder
from fastflow.models import FailureKind, RunStatus
from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.records import Run

# -- a claimed run -------------------------------------------------------------------


@dataclass(frozen=True)
class Ticket:
    """What every place that executes a run knows of it."""

    run_id: str
    pipeline_name: str
    attempt: int
    parameters: Mapping[str, Any]
    executor: str
    """The executor the server chose when the run was accepted."""
    source: str | None = None
    """Code outside PIPELINES_DIR (an upload), or None."""
    timeout: float | None = None
    """A timeout decided by the server already (a worker's message), else the pipeline's."""
    cancel_requested: bool = False

    @classmethod
    def of(cls, run: Run) -> Ticket:
        return cls(
            run_id=run.id,
            pipeline_name=run.pipeline_name,
            attempt=run.attempt,
            parameters=run.parameters,
            executor=run.executor,
            source=run.source,
            cancel_requested=run.cancel_requested,
        )


# -- executors --------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSpec:
    """A claimed run, resolved: which pipeline, with what environment, under what limits."""

    run_id: str
    pipeline: PipelineDefinition
    env: dict[str, str]
    work_dir: Path
    artifacts_dir: Path
    metrics_path: Path
    timeout: float | None = None
    secret_values: tuple[str, ...] = ()


@dataclass
class ExecutionResult:
    """How a run ended, as far as the executor can tell."""

    status: RunStatus
    exit_code: int | None = None
    failure_kind: FailureKind | None = None
    error: str | None = None
    uv_version: str | None = None
    setup_duration: float | None = None


@dataclass
class RunControl:
    """The lifecycle's handle on a running execution: cancel it, learn its process id."""

    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_reason: str = "cancel requested"
    on_started: Callable[[int], None] | None = None
    # Told the end of each stage of the execution (e.g. "environment"), for stage timings.
    on_stage: Callable[[str], None] | None = None
    outlives_server: bool = False
    """The execution goes on without this server (a supervisor, a container): a stopping
    server may leave it to its successor instead of cancelling it."""


# (statuses of run ids, dry_run) -> names of what was removed (or would be).
RunStatuses = Callable[[Collection[str]], dict[str, str]]


@runtime_checkable
class Executor(Protocol):
    """Runs one run to its end. Never raises for a run's own failure: it reports it.

    Every executor answers every capability; one that has nothing to do for a capability
    says so (no re-attachable runs, nothing to sweep, no health check)."""

    name: str

    @property
    def outlives_server(self) -> bool:
        """Its runs go on when the server stops (a supervisor process, a container)."""
        ...

    async def execute(
        self, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult: ...

    async def reattachable(self, run_ids: Collection[str]) -> dict[str, str] | None:
        """Handles of executions still present for `run_ids` (None: cannot tell now)."""
        ...

    async def reattach(
        self, handle: str, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        """Continue supervising an execution started by a previous server, to its end."""
        ...

    def abandon(self, run: Run) -> str:
        """A run a previous server left RUNNING that cannot be re-attached: stop whatever
        is left of it; returns the sentence its error message says."""
        ...

    def sweep(self, statuses: RunStatuses, dry_run: bool) -> list[str]:
        """Remove what finished runs left behind (retention); the names of what went."""
        ...

    async def health(self, run_id: str) -> dict[str, Any] | None:
        """Check a run executing here now (None when it does not execute here)."""
        ...

    def close(self) -> None:
        """The server stops: release what the executor holds (runs are not affected)."""
        ...


# -- dispatchers ------------------------------------------------------------------------


class Dispatcher(Protocol):
    """Starts PENDING runs as capacity allows, and stops them on request."""

    async def start(self) -> None:
        """Begin dispatching (PENDING runs from before a restart included)."""
        ...

    async def stop(self) -> None: ...

    def submit(self, run_id: str) -> None:
        """A run became PENDING; safe to call from any thread."""
        ...

    def cancel(self, run_id: str, reason: str = "cancel requested") -> bool:
        """Ask a running run to stop (`reason` goes into its error message); False when no
        worker of this dispatcher runs it."""
        ...

    @property
    def running(self) -> int:
        """Runs executing now."""
        ...


@runtime_checkable
class RemoteWorkers(Protocol):
    """A dispatcher that hands runs to workers in other processes (e.g. Celery)."""

    def list_workers(self) -> list[dict[str, Any]]:
        """Live workers' heartbeat records; UnavailableError when the broker is unreachable."""
        ...

    @property
    def redis_error(self) -> str | None:
        """Why the broker cannot be used right now, or None."""
        ...

    def claim_owner(self, run_id: str) -> str | None:
        """The id of the worker holding the run's claim, or None; UnavailableError when the
        broker is unreachable."""
        ...


# -- sources and outputs ----------------------------------------------------------------


class PipelineSource(Protocol):
    """Where a run's code comes from on the server: PIPELINES_DIR or an upload."""

    def resolve(self, ticket: Ticket) -> PipelineDefinition:
        """The run's pipeline; raises when its code cannot be had."""
        ...


class RunOutputs(Protocol):
    """What happens to a finished run's files (artifacts into object storage, log archive)."""

    def keep_artifacts(self, run_id: str, folder: Path, recorder: RunRecorder) -> list[str]:
        """Keep the files under `folder`; returns the kept paths. Never raises."""
        ...

    def archive_log(self, run_id: str, log_path: Path, metrics_path: Path) -> None: ...

    def restore_log(self, run_id: str, log_path: Path) -> bool:
        """Bring an archived log back when the local copy is gone; True when restored."""
        ...
