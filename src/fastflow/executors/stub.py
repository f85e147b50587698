"""A stub executor for tests of the run lifecycle: the entrypoint under this very Python.

No environment from uv, no sandbox, no supervisor — only the process itself, captured by the
same `ProcessRun` the local executor uses, so output, exit codes, cancel and timeout behave
as they do there. It honours the whole executor contract (the contract suite runs over it
beside the real executors), which makes it a fast stand-in where a test is about what
happens around a run, not about isolation. Never offered by configuration.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from typing import Any

from fastflow.events.recorder import RunRecorder
from fastflow.executors.inline import run_inline
from fastflow.executors.process_run import ProcessJob, kill_orphan
from fastflow.models import FailureKind, RunStatus
from fastflow.records import Run
from fastflow.runs.ports import ExecutionResult, RunControl, RunSpec, RunStatuses


class StubExecutor:
    name = "stub"
    outlives_server = False

    def __init__(self, python: str = sys.executable, cancel_grace: float = 2.0) -> None:
        self.python = python
        self.cancel_grace = cancel_grace
        self._running: set[str] = set()

    async def execute(
        self, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        spec.work_dir.mkdir(parents=True, exist_ok=True)
        spec.artifacts_dir.mkdir(parents=True, exist_ok=True)
        job = ProcessJob(
            run_id=spec.run_id,
            argv=[self.python, str(spec.pipeline.entrypoint)],
            cwd=str(spec.work_dir),
            env=dict(spec.env),
            metrics_path=str(spec.metrics_path),
            timeout=spec.timeout,
            cancel_grace=self.cancel_grace,
        )
        self._running.add(spec.run_id)
        try:
            outcome = await run_inline(job, recorder, control)
        finally:
            self._running.discard(spec.run_id)
        return ExecutionResult(
            RunStatus(outcome.status),
            outcome.exit_code,
            FailureKind(outcome.failure_kind) if outcome.failure_kind else None,
            outcome.error,
        )

    async def reattachable(self, run_ids: Collection[str]) -> dict[str, str] | None:
        """Its runs die with the process that started them: nothing to re-attach."""
        return {}

    async def reattach(
        self, handle: str, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        return ExecutionResult(
            RunStatus.FAILED, failure_kind=FailureKind.LOST, error="nothing to re-attach"
        )

    def abandon(self, run: Run) -> str:
        if run.pid is not None:
            kill_orphan(run.pid, run.started_at.timestamp() if run.started_at else None)
        return "the server stopped while this run was running; its process was stopped"

    def sweep(self, statuses: RunStatuses, dry_run: bool) -> list[str]:
        return []

    async def health(self, run_id: str) -> dict[str, Any] | None:
        """Running here: healthy as far as it can tell (it runs no health checks)."""
        if run_id not in self._running:
            return None
        return {"healthy": None, "reason": "the stub executor runs no health checks"}

    def close(self) -> None:
        """Nothing held."""
