"""RunService: what callers (API, CLI, scheduler, webhooks) may do with runs."""

from __future__ import annotations

import logging
from typing import Any

from fastflow.dispatch.base import Dispatcher
from fastflow.errors import CapacityError, ConflictError
from fastflow.events.recorder import RunRecorder
from fastflow.models import RunStatus, Trigger
from fastflow.pipelines.discovery import PipelineCatalog, PipelineDefinition
from fastflow.runs.engine import RunEngine
from fastflow.runs.parameters import resolve_parameters
from fastflow.settings import QueueFullPolicy, Settings
from fastflow.storage.pipeline_store import PipelineStore
from fastflow.storage.run_store import RunStore
from fastflow.storage.tables import Run

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
    ) -> None:
        self.settings = settings
        self.runs = runs
        self.pipelines = pipelines
        self.catalog = catalog
        self.engine = engine
        self.dispatcher = dispatcher

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
        run = Run(
            pipeline_name=pipeline.name,
            trigger=trigger.value,
            triggered_by=triggered_by,
            schedule_id=schedule_id,
            executor=pipeline.config.executor or self.settings.executor.value,
            parameters=params,
            env_vars=dict(params),
            max_attempts=1 + (self.settings.retry_attempts if retries is None else retries),
            source=source,
        )
        run.log_file = str(self.engine.log_path(run.id))
        run.metrics_file = str(self.engine.metrics_path(run.id))
        self.runs.create(run)
        self.dispatcher.submit(run.id)
        return run

    def cancel(self, run_id: str, reason: str = "cancel requested") -> Run:
        """Cancel a PENDING run at once, or ask a RUNNING one to stop; `reason` is said in
        its error message."""
        run = self.runs.get(run_id)
        if RunStatus(run.status).is_terminal:
            raise ConflictError(f"run {run_id} already finished ({run.status})")
        error = "cancelled before it started" + (
            "" if reason == "cancel requested" else f": {reason}"
        )
        if self.runs.cancel_pending(run_id, error):
            recorder = RunRecorder(run_id, self.engine.log_path(run_id), self.engine.fanout)
            recorder.complete(
                status=RunStatus.CANCELLED.value,
                success=False,
                exit_code=None,
                failure_kind=None,
                error=error,
                artifacts=[],
            )
            recorder.close()
            # A task message may be queued for it already: its worker must drop it.
            self.dispatcher.cancel(run_id, reason)
            self.engine.notify_finished(run_id)
            return self.runs.get(run_id)
        self.runs.update(run_id, cancel_requested=True)
        self.dispatcher.cancel(run_id, reason)
        return self.runs.get(run_id)

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
        run = Run(
            pipeline_name=old.pipeline_name,
            trigger=Trigger.RETRY.value,
            triggered_by=triggered_by,
            attempt=old.attempt + 1,
            max_attempts=max(old.max_attempts, old.attempt + 1),
            parent_run_id=old.id,
            executor=old.executor,
            parameters=old.parameters,
            env_vars=old.env_vars,
            source=old.source,
        )
        run.log_file = str(self.engine.log_path(run.id))
        run.metrics_file = str(self.engine.metrics_path(run.id))
        self.runs.create(run)
        self.dispatcher.submit(run.id)
        return run
