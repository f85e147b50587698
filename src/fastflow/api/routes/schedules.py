"""Schedules: cron and interval triggers that start runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from fastflow.api.deps import Operator, ServicesDep, Viewer
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.records import Schedule
from fastflow.scheduler.requests import ScheduleIn, ScheduleUpdate
from fastflow.scheduler.service import SchedulerService, ScheduleSpec

router = ApiRouter(prefix="/api/schedules", tags=["schedules"], responses=AUTHENTICATED)


class ScheduleOut(BaseModel):
    id: str
    pipeline_name: str
    trigger_type: str
    trigger_value: str
    enabled: bool
    parameters: dict[str, Any]
    timezone: str
    overlap_policy: str | None
    misfire_grace_seconds: int
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_run_id: str | None
    last_outcome: str | None
    last_message: str | None
    skipped_count: int
    queued_at: datetime | None
    problem: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: Schedule, scheduler: SchedulerService) -> ScheduleOut:
        return cls(**row.model_dump(), problem=scheduler.problem(row))


@router.get("", response_model=list[ScheduleOut])
def list_schedules(
    services: ServicesDep, _: Viewer, pipeline: str | None = None
) -> list[ScheduleOut]:
    """Every schedule with its next/last run and any problem (missing or invalid pipeline)."""
    sched = services.scheduler
    return [ScheduleOut.of(r, sched) for r in services.scheduler.all(pipeline)]


@router.post("", response_model=ScheduleOut, status_code=201, responses=errors(404))
def create_schedule(body: ScheduleIn, services: ServicesDep, _: Operator) -> ScheduleOut:
    """Create a schedule; an invalid cron expression, interval or zone is a 422 naming it."""
    row = services.scheduler.create(ScheduleSpec(**body.model_dump()))
    return ScheduleOut.of(row, services.scheduler)


@router.get("/{schedule_id}", response_model=ScheduleOut, responses=errors(404))
def get_schedule(schedule_id: str, services: ServicesDep, _: Viewer) -> ScheduleOut:
    return ScheduleOut.of(services.scheduler.get(schedule_id), services.scheduler)


@router.put("/{schedule_id}", response_model=ScheduleOut, responses=errors(404))
def update_schedule(
    schedule_id: str, body: ScheduleUpdate, services: ServicesDep, _: Operator
) -> ScheduleOut:
    """Change the fields given; the others keep their values."""
    # An explicit null means "unchanged", except for overlap_policy where it means "inherit".
    changes = {
        k: v
        for k, v in body.model_dump(exclude_unset=True).items()
        if v is not None or k == "overlap_policy"
    }
    row = services.scheduler.update(schedule_id, changes)
    return ScheduleOut.of(row, services.scheduler)


@router.delete("/{schedule_id}", status_code=204, responses=errors(404))
def delete_schedule(schedule_id: str, services: ServicesDep, _: Operator) -> Response:
    services.scheduler.delete(schedule_id)
    return Response(status_code=204)


@router.post("/{schedule_id}/enable", response_model=ScheduleOut, responses=errors(404))
def enable_schedule(schedule_id: str, services: ServicesDep, _: Operator) -> ScheduleOut:
    return ScheduleOut.of(services.scheduler.set_enabled(schedule_id, True), services.scheduler)


@router.post("/{schedule_id}/disable", response_model=ScheduleOut, responses=errors(404))
def disable_schedule(schedule_id: str, services: ServicesDep, _: Operator) -> ScheduleOut:
    return ScheduleOut.of(services.scheduler.set_enabled(schedule_id, False), services.scheduler)
