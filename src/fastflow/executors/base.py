"""The executor contract: what a run needs to start, and what an executor reports back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

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


class Executor(Protocol):
    """Runs one run to its end. Never raises for a run's own failure: it reports it."""

    name: str

    async def execute(
        self, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult: ...
