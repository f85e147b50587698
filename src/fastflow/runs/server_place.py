"""Executing on the server: code from PIPELINES_DIR or an upload, secrets from the store."""

from __future__ import annotations

from collections.abc import Mapping

from fastflow.events.recorder import RunRecorder
from fastflow.models import FailureKind
from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.runs.execution import CannotExecute, Place
from fastflow.runs.ports import Executor, PipelineSource, Ticket
from fastflow.runs.spec import secrets_for_run
from fastflow.secrets.service import RunSecrets, SecretService
from fastflow.storage.run_store import RunStore


class ServerPlace(Place):
    def __init__(
        self,
        pipelines: PipelineSource,
        executors: Mapping[str, Executor],
        default_executor: str,
        secrets: SecretService | None,
        runs: RunStore,
    ) -> None:
        """`default_executor`: EXECUTOR, for pipelines that do not choose one."""
        self.pipelines = pipelines
        self.executors = executors
        self.default_executor = default_executor
        self.secret_store = secrets
        self.runs = runs

    def pipeline(self, ticket: Ticket) -> PipelineDefinition:
        return self.pipelines.resolve(ticket)

    def executor(
        self, ticket: Ticket, pipeline: PipelineDefinition, recorder: RunRecorder
    ) -> Executor:
        name = pipeline.config.executor or self.default_executor
        executor = self.executors.get(name)
        if executor is None:
            raise CannotExecute(
                f"executor {name!r} is not available on this server", FailureKind.ENGINE_ERROR
            )
        return executor

    def secrets(self, ticket: Ticket, pipeline: PipelineDefinition) -> RunSecrets:
        """The store's entries; the run's row records the env it sees with secrets as `***`."""
        return secrets_for_run(
            self.secret_store,
            self.runs,
            ticket.run_id,
            ticket.parameters,
            pipeline.config.secrets,
        )
