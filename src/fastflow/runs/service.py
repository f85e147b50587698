"""RunService: what callers (API, console, CLI, scheduler, webhooks) may do with runs.

The one door to runs for everything above the lifecycle: start, cancel, retry, and read a
run, its log and its metrics.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from fastflow.errors import CapacityError, ConflictError
from fastflow.models import RunStatus, Trigger
from fastflow.pipelines.discovery import PipelineCatalog, PipelineDefinition
from fastflow.records import Run, RunFilter
from fastflow.runs.attempts import Attempts, first_attempt, new_attempt
from fastflow.runs.engine import RunEngine
from fastflow.runs.logs import RunLogs
from fastflow.runs.parameters import resolve_parameters
from fastflow.runs.ports import Dispatcher
from fastflow.runs.settlement import Settlement
from fastflow.settings import QueueFullPolicy, Settings
from fastflow.storage.pipeline_store import PipelineStore
from fastflow.storage.run_store import RunStore

log = logging.getLogger(__name__)


class RunService:
    def __init__(
        self,
        settings: Settings,
        runs: RunStore,
        pipelines: PipelineStore,
        catalog: PipelineCatalog,
        engine: RunEngine,
        dispatcher: Dispatcher,
        settlement: Settlement,
        logs: RunLogs,
    ) -> None:
        self.settings = settings
        self.runs = runs
        self.pipelines = pipelines
        self.catalog = catalog
        self.engine = engine
        self.dispatcher = dispatcher
        self.settlement = settlement
        self.logs = logs
        self.attempts = Attempts(runs, logs, dispatcher.submit)

    # -- reading ------------------------------------------------------------------------

    def get(self, run_id: str) -> Run:
        """The run, or NotFoundError (also for ids that cannot exist)."""
        return self.runs.get(run_id)

    def search(
        self,
        flt: RunFilter,
        limit: int = 50,
        offset: int = 0,
        sort: str = "created_at",
        descending: bool = True,
    ) -> tuple[list[Run], int]:
        """A page of runs matching the filter, and how many match in all."""
        return self.runs.search(flt, limit, offset, sort, descending)

    def log_path(self, run_id: str) -> Path:
        """The log of a known run (NotFoundError otherwise), restored from the archive when
        only the archive has it."""
        return self.log_of(self.runs.get(run_id))

    def log_of(self, run: Run) -> Path:
        """`log_path` of a run already read."""
        return self.logs.readable_log(run.id)

    def metrics_path(self, run_id: str) -> Path:
        return self.logs.metrics_path(self.runs.get(run_id).id)

    def metrics(self, run_id: str) -> list[dict[str, Any]]:
        return self.logs.metrics(self.runs.get(run_id).id)

    async def health(self, run_id: str) -> dict[str, Any] | None:
        """A health check of a run executing on this server now (None: not here)."""
        return await self.engine.health(run_id)

    # -- changing -----------------------------------------------------------------------

    def start(
        self,
        pipeline_name: str,
        parameters: dict[str, Any] | None = None,
        trigger: Trigger = Trigger.API,
        triggered_by: str | None = None,
        schedule_id: str | None = None,
    ) -> Run:
        """Accept a run as PENDING and hand it to the dispatcher."""
        pipeline = self._runnable(pipeline_name)
        params = resolve_parameters(pipeline.config, parameters or {})
        return self.start_definition(pipeline, params, trigger, triggered_by, schedule_id)

    def start_definition(
        self,
        pipeline: PipelineDefinition,
        params: dict[str, Any],
        trigger: Trigger = Trigger.API,
        triggered_by: str | None = None,
        schedule_id: str | None = None,
        source: str | None = None,
    ) -> Run:
        """Queue a run of a resolved pipeline; `source` names code outside PIPELINES_DIR."""
        if (
            self.settings.queue_full_policy is QueueFullPolicy.REJECT
            and self.runs.count_active() >= self.settings.max_concurrent_runs
        ):
            raise CapacityError(
                f"all {self.settings.max_concurrent_runs} run slots are busy; try again later"
            )
        retries = pipeline.config.retries
        run = first_attempt(
            pipeline,
            params,
            executor=pipeline.config.executor or self.settings.executor.value,
            retries=self.settings.retry_attempts if retries is None else retries,
            trigger=trigger,
            triggered_by=triggered_by,
            schedule_id=schedule_id,
            source=source,
        )
        return self.attempts.queue(run)

    def cancel(self, run_id: str, reason: str = "cancel requested") -> Run:
        """Cancel a PENDING run at once, or ask a RUNNING one to stop; `reason` is said in
        its error message."""
        run = self.runs.get(run_id)
        if RunStatus(run.status).is_terminal:
            raise ConflictError(f"run {run_id} already finished ({run.status})")
        error = "cancelled before it started" + (
            "" if reason == "cancel requested" else f": {reason}"
        )
        if self.runs.cancel_pending(run.id, error):
            self.settlement.record_cancelled_pending(run.id, error)
            # A task message may be queued for it already: its worker must drop it.
            self.dispatcher.cancel(run.id, reason)
            self.settlement.notify_finished(run.id)
            return self.runs.get(run.id)
        self.runs.update(run.id, cancel_requested=True)
        self.dispatcher.cancel(run.id, reason)
        return self.runs.get(run.id)

    def _runnable(self, pipeline_name: str) -> PipelineDefinition:
        """The pipeline, if a run of it may start now (it exists, is valid and enabled)."""
        pipeline = self.catalog.get(pipeline_name)
        if not pipeline.valid:
            raise ConflictError(f"pipeline {pipeline_name!r} is invalid: {pipeline.error}")
        row = self.pipelines.get(pipeline_name)
        if not pipeline.config.enabled or not row.enabled:
            raise ConflictError(f"pipeline {pipeline_name!r} is disabled; enable it to run it")
        return pipeline

    def retry(self, run_id: str, triggered_by: str | None = None) -> Run:
        """A new attempt of a finished run, with the same parameters, linked to it."""
        old = self.runs.get(run_id)
        if not RunStatus(old.status).is_terminal:
            raise ConflictError(f"run {run_id} is still {old.status}; cancel it first")
        if old.source is None:  # code from elsewhere (an upload) is resolved when it runs
            self._runnable(old.pipeline_name)  # a retry is a start: same checks
        return self.attempts.queue(new_attempt(old, triggered_by, automatic=False))
