"""The REST side of the live build protocol: start a build, list its files, see who watches.

For build dashboards written against a "live build log" server: `POST /build/start` starts a
run (`build_id` is its id, which `/ws/build/{build_id}` streams), `GET /build/download` lists
the run's artifacts, `GET /ws/active-builds` the runs with live viewers.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from fastflow.api import job_view
from fastflow.api.deps import Operator, ServicesDep, Viewer
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.models import Trigger

router = ApiRouter(tags=["live builds"], responses=AUTHENTICATED)


class BuildStart(BaseModel):
    model_config = ConfigDict(extra="forbid")
    project_id: str = Field(min_length=1, max_length=200, description="the pipeline to run")
    build_type: str | None = Field(
        default=None, max_length=200, description="passed to the run as parameter BUILD_TYPE"
    )
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=200)


class BuildStarted(BaseModel):
    build_id: str
    status: str
    websocket_url: str


class BuildFiles(BaseModel):
    build_id: str
    status: str
    files: list[str]
    urls: dict[str, str] = Field(description="download URL of each file")


class ActiveBuild(BaseModel):
    build_id: str
    clients: int


class ActiveBuilds(BaseModel):
    active_builds: list[ActiveBuild]


@router.post("/build/start", response_model=BuildStarted, responses=errors(404, 409, 429))
def start_build(body: BuildStart, services: ServicesDep, user: Operator) -> BuildStarted:
    """Start a run of pipeline `project_id` (with `build_type` as parameter BUILD_TYPE);
    follow it at `/ws/build/{build_id}`."""
    parameters = dict(body.parameters)
    if body.build_type is not None:
        parameters["BUILD_TYPE"] = body.build_type
    run = services.run_service.start(
        body.project_id, parameters, Trigger.API, triggered_by=user.username
    )
    return BuildStarted(build_id=run.id, status=run.status, websocket_url=f"/ws/build/{run.id}")


@router.get("/build/download", response_model=BuildFiles, responses=errors(404))
def build_files(
    services: ServicesDep,
    _: Viewer,
    build_id: Annotated[str, Query(min_length=1, max_length=64, description="the run id")],
) -> BuildFiles:
    """The files a finished build kept (its artifacts) and where to download each."""
    run = services.run_service.get(build_id)
    files = job_view.artifact_names(services, run)
    return BuildFiles(
        build_id=run.id,
        status=run.status,
        files=files,
        urls={f: f"/api/runs/{run.id}/artifacts/{quote(f)}" for f in files},
    )


@router.get("/ws/active-builds", response_model=ActiveBuilds)
def active_builds(services: ServicesDep, _: Viewer) -> ActiveBuilds:
    """Runs with live viewers right now (SSE and WebSocket) and how many each has."""
    return ActiveBuilds(
        active_builds=[
            ActiveBuild.model_validate({"build_id": s["run_id"], "clients": s["clients"]})
            for s in services.streams.runs()
        ]
    )
