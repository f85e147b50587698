"""The executor contract: what a run needs to start, and what an executor reports back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from fastflow.events.recorder import RunRecorder
from fastflow.models import FailureKind, RunStatus
from fastflow.pipelines.discovery import PipelineDefinition


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
    """The engine's handle on a running execution: cancel it, learn its process id."""

    cancel_requested: asyncio.Event = field(default_factory=asyncio.Event)
    cancel_reason: str = "cancel requested"
    on_started: Callable[[int], None] | None = None
    outlives_server: bool = False
    """The execution goes on without this server (a supervisor, a container): a stopping
    server may leave it to its successor instead of cancelling it."""


class Executor(Protocol):
    """Runs one run to its end. Never raises for a run's own failure: it reports it."""

    name: str

    async def execute(
        self, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult: ...


@runtime_checkable
class Reattaching(Protocol):
    """An executor whose runs outlive the server (containers) and can be picked up again."""

    async def reattachable(self, run_ids: Collection[str]) -> dict[str, str] | None:
        """Handles of still-present executions for `run_ids` (None: cannot tell, engine down).

        Executions the executor finds that belong to none of `run_ids` are reported (logged).
        """
        ...

    async def reattach(
        self, handle: str, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        """Continue supervising an execution started by a previous server, to its end."""
        ...


@runtime_checkable
class HealthReporting(Protocol):
    """An executor that checks its runs' health and can say how a run is doing."""

    async def health(self, run_id: str) -> dict[str, Any] | None:
        """Check a run executing here now (None when it does not execute here)."""
        ...
