"""An executor whose library is not installed: it fails each run with the install to do.

The server offers every executor by name (a pipeline.json may ask for `"executor": "docker"`
under EXECUTOR=local); when the extra behind one is missing, its runs fail at once with
ENGINE_ERROR and the `pip install` line, instead of the server failing to start.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from fastflow.errors import MissingExtraError
from fastflow.events.recorder import RunRecorder
from fastflow.extras import DOCKER, require
from fastflow.models import FailureKind, RunStatus
from fastflow.records import Run
from fastflow.runs.ports import ExecutionResult, Executor, RunControl, RunSpec, RunStatuses
from fastflow.settings import Settings


class MissingExtraExecutor:
    """Stands for executor `name`, whose extra is not installed; `why` is the line to show."""

    outlives_server = False

    def __init__(self, name: str, why: str) -> None:
        self.name = name
        self.why = why

    def _failed(self) -> ExecutionResult:
        return ExecutionResult(
            RunStatus.FAILED, failure_kind=FailureKind.ENGINE_ERROR, error=self.why
        )

    async def execute(
        self, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        return self._failed()

    async def reattachable(self, run_ids: Collection[str]) -> dict[str, str] | None:
        """It never started anything: nothing to re-attach."""
        return {}

    async def reattach(
        self, handle: str, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        return self._failed()

    def abandon(self, run: Run) -> str:
        return f"the server stopped while this run was running; {self.why}"

    def sweep(self, statuses: RunStatuses, dry_run: bool) -> list[str]:
        return []

    async def health(self, run_id: str) -> dict[str, Any] | None:
        return None

    def close(self) -> None:
        return None


def docker_executor(settings: Settings, labels: dict[str, str]) -> Executor:
    """The docker executor for `settings` with `labels` on its containers; without the
    docker extra, its stand-in that fails docker runs with the `pip install` to do."""
    try:
        require("the docker executor", DOCKER)
    except MissingExtraError as exc:
        return MissingExtraExecutor("docker", exc.message)
    from fastflow.executors.docker import DockerExecutor

    return DockerExecutor.from_settings(settings, labels=labels)
