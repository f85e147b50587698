"""Pipelines: discovery results with stats, starting runs, their history."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query

from fastflow.api.deps import Operator, ServicesDep, Viewer
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.api.routes.runs import RunListQuery, run_page
from fastflow.api.schemas import PipelineOut, PipelineStats, RunCreate, RunOut, RunPage, stats_of
from fastflow.models import Trigger
from fastflow.pipelines.discovery import MAX_NAME_LENGTH, NAME_PATTERN, check_name
from fastflow.records import RunFilter

router = ApiRouter(prefix="/api/pipelines", tags=["pipelines"], responses=AUTHENTICATED)

PipelineName = Annotated[
    str,
    Path(
        max_length=MAX_NAME_LENGTH,
        description=f"Pipeline name, matching {NAME_PATTERN}",
    ),
]


@router.get("", response_model=list[PipelineOut])
def list_pipelines(services: ServicesDep, _: Viewer) -> list[PipelineOut]:
    """Every discovered pipeline, valid or not, with stats and its last run."""
    return [PipelineOut.of(v) for v in services.pipeline_service.list()]


@router.get("/{name}", response_model=PipelineOut, responses=errors(404))
def get_pipeline(name: PipelineName, services: ServicesDep, _: Viewer) -> PipelineOut:
    return PipelineOut.of(services.pipeline_service.get(check_name(name)))


@router.post("/{name}/run", response_model=RunOut, status_code=202, responses=errors(404, 409, 429))
def start_run(
    name: PipelineName, services: ServicesDep, user: Operator, body: RunCreate | None = None
) -> RunOut:
    """Start a run; it answers at once with the run (PENDING) and where to follow it."""
    run = services.run_service.start(
        check_name(name),
        (body or RunCreate()).parameters,
        trigger=Trigger.API,
        triggered_by=user.username,
    )
    return RunOut.of(run)


@router.get("/{name}/runs", response_model=RunPage)
def list_pipeline_runs(
    name: PipelineName,
    services: ServicesDep,
    _: Viewer,
    q: Annotated[RunListQuery, Query()],
) -> RunPage:
    check_name(name)
    return run_page(services, q, RunFilter(pipeline=name))


@router.get("/{name}/stats", response_model=PipelineStats, responses=errors(404))
def get_pipeline_stats(name: PipelineName, services: ServicesDep, _: Viewer) -> PipelineStats:
    return stats_of(services.pipeline_service.get(check_name(name)))


@router.post("/{name}/stats/reset", response_model=PipelineStats, responses=errors(404))
def reset_pipeline_stats(name: PipelineName, services: ServicesDep, _: Operator) -> PipelineStats:
    return stats_of(services.pipeline_service.reset_stats(name))


@router.post("/{name}/enable", response_model=PipelineOut, responses=errors(404))
def enable_pipeline(name: PipelineName, services: ServicesDep, _: Operator) -> PipelineOut:
    return PipelineOut.of(services.pipeline_service.set_enabled(name, True))


@router.post("/{name}/disable", response_model=PipelineOut, responses=errors(404))
def disable_pipeline(name: PipelineName, services: ServicesDep, _: Operator) -> PipelineOut:
    out = PipelineOut.of(services.pipeline_service.set_enabled(name, False))
    out.warnings = services.scheduler.warnings_for(name)
    return out
