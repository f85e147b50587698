"""SchedulerService: schedules in the database, ticking in APScheduler's AsyncIOScheduler.

The database is the source of truth; APScheduler only holds in-memory jobs rebuilt from it
on start. Misfires while the server was down: the stored `next_run_at` tells what was missed;
within the schedule's grace time they coalesce into ONE run at start, beyond it none runs and
the schedule records `missed`. A tick while a run of the pipeline is still going follows the
overlap policy: `skip` (counted) or `queue` (one tick held back until the run ends).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from fastflow.errors import FastflowError, InvalidInputError, NotFoundError
from fastflow.models import Trigger, TriggerType
from fastflow.pipelines.discovery import PipelineCatalog
from fastflow.records import Run, RunFilter, Schedule, utcnow
from fastflow.runs.parameters import resolve_parameters
from fastflow.runs.service import RunService
from fastflow.scheduler.triggers import build_trigger, next_fire_times
from fastflow.storage.pipeline_store import PipelineStore
from fastflow.storage.run_store import RunStore
from fastflow.storage.schedule_store import ScheduleStore

log = logging.getLogger(__name__)


@dataclass
class ScheduleSpec:
    """What a user sets on a schedule (create: all; update: the fields given)."""

    pipeline_name: str
    trigger_type: TriggerType
    trigger_value: str
    timezone: str = "UTC"
    parameters: dict[str, Any] = field(default_factory=dict)
    enabled: bool = True
    overlap_policy: str | None = None
    misfire_grace_seconds: int = 300


class SchedulerService:
    def __init__(
        self,
        store: ScheduleStore,
        runs: RunStore,
        run_service: RunService,
        catalog: PipelineCatalog,
        pipelines: PipelineStore,
    ) -> None:
        self.store = store
        self.runs = runs
        self.run_service = run_service
        self.catalog = catalog
        self.pipelines = pipelines
        self._scheduler: AsyncIOScheduler | None = None

    # lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Start ticking; catch up misfires and held-back ticks from before the restart."""
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        self._scheduler.start()
        for row in await asyncio.to_thread(self.store.all):
            await asyncio.to_thread(self._catch_up, row)
            self._register(row)
            if row.queued_at is not None:
                await asyncio.to_thread(self._release_queued, row.pipeline_name)

    async def stop(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None

    # CRUD ------------------------------------------------------------------------------
    def all(self, pipeline: str | None = None) -> list[Schedule]:
        return self.store.all(pipeline)

    def get(self, schedule_id: str) -> Schedule:
        return self.store.get(schedule_id)

    def create(self, spec: ScheduleSpec) -> Schedule:
        self._validate(spec)
        row = self.store.create(
            Schedule(
                pipeline_name=spec.pipeline_name,
                trigger_type=spec.trigger_type.value,
                trigger_value=spec.trigger_value.strip(),
                timezone=spec.timezone,
                parameters=spec.parameters,
                enabled=spec.enabled,
                overlap_policy=spec.overlap_policy,
                misfire_grace_seconds=spec.misfire_grace_seconds,
            )
        )
        self._register(row)
        return self.store.get(row.id)

    def update(self, schedule_id: str, changes: dict[str, Any]) -> Schedule:
        old = self.store.get(schedule_id)
        merged = ScheduleSpec(
            pipeline_name=changes.get("pipeline_name", old.pipeline_name),
            trigger_type=TriggerType(changes.get("trigger_type", old.trigger_type)),
            trigger_value=str(changes.get("trigger_value", old.trigger_value)).strip(),
            timezone=changes.get("timezone", old.timezone),
            parameters=changes.get("parameters", old.parameters),
            enabled=changes.get("enabled", old.enabled),
            overlap_policy=changes.get("overlap_policy", old.overlap_policy),
            misfire_grace_seconds=changes.get("misfire_grace_seconds", old.misfire_grace_seconds),
        )
        self._validate(merged)
        values = {k: getattr(merged, k) for k in ScheduleSpec.__dataclass_fields__}
        values["trigger_type"] = merged.trigger_type.value
        if not merged.enabled:
            values["queued_at"] = None
        row = self.store.update(schedule_id, **values)
        self._register(row)
        return self.store.get(schedule_id)

    def set_enabled(self, schedule_id: str, enabled: bool) -> Schedule:
        if enabled:
            return self.update(schedule_id, {"enabled": True})
        # Switching off needs no valid pipeline: it may be the one that disappeared.
        row = self.store.update(schedule_id, enabled=False, queued_at=None)
        self._register(row)
        return self.store.get(schedule_id)

    def disable_all(self, pipeline: str) -> list[str]:
        """Disable every enabled schedule of `pipeline` (removed); their ids."""
        ids = [s.id for s in self.store.all(pipeline) if s.enabled]
        for schedule_id in ids:
            self.set_enabled(schedule_id, False)
        return ids

    def delete(self, schedule_id: str) -> None:
        self.store.delete(schedule_id)
        self._unregister(schedule_id)

    def upcoming(self, row: Schedule, count: int = 5) -> list[datetime]:
        """The schedule's next `count` fire times (none when disabled or invalid)."""
        if not row.enabled:
            return []
        try:
            return next_fire_times(
                TriggerType(row.trigger_type),
                row.trigger_value,
                row.timezone,
                row.updated_at,
                count,
            )
        except (InvalidInputError, ValueError):
            return []

    def history(self, schedule_id: str, limit: int = 10) -> list[Run]:
        """The newest runs this schedule started."""
        row = self.get(schedule_id)
        runs, _ = self.runs.search(
            RunFilter(pipeline=row.pipeline_name, schedule_id=row.id), limit=limit
        )
        return runs

    def problem(self, row: Schedule) -> str | None:
        """Why this schedule cannot start runs now (missing/invalid/disabled pipeline)."""
        try:
            pipeline = self.catalog.get(row.pipeline_name)
        except FastflowError as exc:
            return exc.message
        if not pipeline.valid:
            return f"pipeline {row.pipeline_name!r} is invalid: {pipeline.error}"
        if not pipeline.config.enabled or not self.pipelines.get(row.pipeline_name).enabled:
            return f"pipeline {row.pipeline_name!r} is disabled; its ticks are skipped"
        return None

    def warnings_for(self, pipeline: str) -> list[str]:
        """Warnings to show when a pipeline is disabled or removed while scheduled."""
        active = [s.id for s in self.store.all(pipeline) if s.enabled]
        if not active:
            return []
        return [
            f"{len(active)} enabled schedule(s) target pipeline {pipeline!r} "
            f"({', '.join(active)}); their ticks are skipped until it is enabled again"
        ]

    # ticking ---------------------------------------------------------------------------
    async def _fire(self, schedule_id: str) -> None:
        await asyncio.to_thread(self.tick, schedule_id)

    def tick(self, schedule_id: str, note: str | None = None) -> None:
        """One tick: start a run, or record why not. Never raises."""
        try:
            row = self.store.get(schedule_id)
        except NotFoundError:
            self._unregister(schedule_id)
            return
        try:
            self._tick(row, note)
        except Exception as exc:
            log.exception("schedule %s: tick failed", schedule_id)
            self.store.record(schedule_id, last_outcome="error", last_message=str(exc))

    def _tick(self, row: Schedule, note: str | None) -> None:
        next_at = self._next_run(row.id)
        problem = self.problem(row)
        if problem is not None:
            log.warning("schedule %s: %s", row.id, problem)
            outcome = "skipped" if "disabled" in problem else "error"
            if outcome == "skipped":
                self.store.count_skip(row.id, problem)
                self.store.record(row.id, next_run_at=next_at)
            else:
                self.store.record(
                    row.id, last_outcome="error", last_message=problem, next_run_at=next_at
                )
            return
        active = self.runs.active_for(row.pipeline_name)
        if active:
            policy = row.overlap_policy or self.catalog.get(row.pipeline_name).config.overlap
            busy = f"run {active[0].id} of {row.pipeline_name!r} is still {active[0].status}"
            if policy == "queue":
                self.store.record(
                    row.id,
                    queued_at=row.queued_at or utcnow(),
                    last_outcome="queued",
                    last_message=f"{busy}; this tick starts when it ends (overlap policy queue)",
                    next_run_at=next_at,
                )
            else:
                self.store.count_skip(row.id, f"{busy}; tick skipped (overlap policy skip)")
                self.store.record(row.id, next_run_at=next_at)
            return
        self._start_run(row, note, next_at)

    def _start_run(self, row: Schedule, note: str | None, next_at: datetime | None) -> None:
        try:
            run = self.run_service.start(
                row.pipeline_name,
                row.parameters,
                trigger=Trigger.SCHEDULE,
                triggered_by=f"schedule:{row.id}",
                schedule_id=row.id,
            )
        except FastflowError as exc:
            log.warning("schedule %s: could not start a run: %s", row.id, exc.message)
            self.store.record(
                row.id, last_outcome="error", last_message=exc.message, next_run_at=next_at
            )
            return
        log.info("schedule %s: started run %s of %s", row.id, run.id, row.pipeline_name)
        self.store.record(
            row.id,
            last_run_at=run.created_at,
            last_run_id=run.id,
            last_outcome="started",
            last_message=note,
            queued_at=None,
            next_run_at=next_at,
        )

    def run_finished(self, run: Run) -> None:
        """Engine listener: a run ended, so a tick held back by `queue` may start now."""
        self._release_queued(run.pipeline_name)

    def _release_queued(self, pipeline: str) -> None:
        if not self.store.any_queued(pipeline):  # the usual answer, from one cheap query
            return
        waiting = self.store.queued(pipeline)
        if not waiting or self.runs.active_for(pipeline):
            return
        row = min(waiting, key=lambda s: s.queued_at or utcnow())
        self._start_run(row, f"queued tick from {row.queued_at:%Y-%m-%d %H:%M:%S} UTC", None)
        self.store.record(row.id, next_run_at=self._next_run(row.id))

    def _catch_up(self, row: Schedule) -> None:
        """Apply the misfire policy to ticks missed while the server was down."""
        due = row.next_run_at
        if not row.enabled or due is None or due > utcnow():
            return
        late = (utcnow() - due).total_seconds()
        if late <= row.misfire_grace_seconds:
            self.tick(row.id, note=f"missed tick(s) since {due:%Y-%m-%d %H:%M:%S} UTC, run once")
            return
        message = (
            f"missed tick(s) since {due:%Y-%m-%d %H:%M:%S} UTC while the server was down; "
            f"{late:.0f}s late is beyond the grace time of {row.misfire_grace_seconds}s, "
            "so none ran"
        )
        log.warning("schedule %s: %s", row.id, message)
        self.store.record(row.id, last_outcome="missed", last_message=message)

    # APScheduler jobs ------------------------------------------------------------------
    def _register(self, row: Schedule) -> None:
        scheduler = self._scheduler
        if scheduler is None:
            return
        if not row.enabled:
            self._unregister(row.id)
            self.store.record(row.id, next_run_at=None)
            return
        try:
            trigger = build_trigger(
                TriggerType(row.trigger_type), row.trigger_value, row.timezone, row.updated_at
            )
        except (InvalidInputError, ValueError) as exc:
            # Rows are validated on write; one edited by hand must not stop the others.
            log.error("schedule %s: cannot be scheduled: %s", row.id, exc)
            self.store.record(row.id, last_outcome="error", last_message=str(exc))
            return
        scheduler.add_job(
            self._fire,
            trigger,
            args=[row.id],
            id=row.id,
            replace_existing=True,
            coalesce=True,
            max_instances=1,
            misfire_grace_time=max(1, row.misfire_grace_seconds),
        )
        self.store.record(row.id, next_run_at=self._next_run(row.id))

    def _unregister(self, schedule_id: str) -> None:
        if self._scheduler is not None and self._scheduler.get_job(schedule_id) is not None:
            self._scheduler.remove_job(schedule_id)

    def _next_run(self, schedule_id: str) -> datetime | None:
        job = self._scheduler.get_job(schedule_id) if self._scheduler else None
        return None if job is None else job.next_run_time

    def _validate(self, spec: ScheduleSpec) -> None:
        if spec.overlap_policy not in (None, "skip", "queue"):
            raise InvalidInputError("overlap_policy: use 'skip' or 'queue'")
        build_trigger(spec.trigger_type, spec.trigger_value, spec.timezone)
        try:
            pipeline = self.catalog.get(spec.pipeline_name)
        except NotFoundError as exc:
            raise InvalidInputError(f"pipeline_name: {exc.message}") from None
        except InvalidInputError as exc:
            raise InvalidInputError(f"pipeline_name: {exc.message}") from None
        if pipeline.valid:
            try:
                resolve_parameters(pipeline.config, spec.parameters)
            except FastflowError as exc:
                raise InvalidInputError(f"parameters: {exc.message}") from None
