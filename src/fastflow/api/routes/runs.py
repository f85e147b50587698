"""Runs: listing with filters, detail, cancel, retry, logs and metrics."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path as FsPath
from typing import Annotated, Any

import orjson
from fastapi import Path, Query
from fastapi.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from fastflow.api.deps import Operator, ServicesDep, Viewer
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.api.schemas import RunOut, RunPage
from fastflow.errors import InvalidInputError, NotFoundError
from fastflow.events.log import format_log_text, read_events, tail_log_lines
from fastflow.events.types import EVENT_TYPES, LOG
from fastflow.models import RunStatus
from fastflow.records import RunFilter
from fastflow.services import Services

router = ApiRouter(prefix="/api/runs", tags=["runs"], responses=AUTHENTICATED)

RunId = Annotated[str, Path(pattern=r"^[0-9A-Za-z_-]{1,64}$", description="Run id")]

MAX_PAGE = 500
MAX_LOG_EVENTS = 100_000


class SortField(StrEnum):
    created_at = "created_at"
    started_at = "started_at"
    finished_at = "finished_at"
    pipeline_name = "pipeline_name"
    status = "status"


class RunListQuery(BaseModel):
    """Filters, paging and sort for run listings."""

    model_config = ConfigDict(extra="forbid")

    status: list[RunStatus] = Field(default_factory=list, description="repeat or comma-separate")
    since: datetime | None = Field(default=None, description="created at or after (ISO 8601)")
    until: datetime | None = Field(default=None, description="created before (ISO 8601)")
    limit: int = Field(default=50, ge=1, le=MAX_PAGE)
    offset: int = Field(default=0, ge=0, le=10_000_000)
    sort: SortField = SortField.created_at
    order: str = Field(default="desc", pattern="^(asc|desc)$")

    @field_validator("status", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            return [p.strip().upper() for v in value for p in str(v).split(",") if p.strip()]
        return value

    @field_validator("since", "until")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value


class RunListQueryWithPipeline(RunListQuery):
    pipeline: str | None = Field(default=None, max_length=200)


def run_page(services: Services, q: RunListQuery, flt: RunFilter) -> RunPage:
    flt = RunFilter(
        pipeline=flt.pipeline,
        statuses=[s.value for s in q.status],
        since=q.since,
        until=q.until,
    )
    items, total = services.run_service.search(
        flt, limit=q.limit, offset=q.offset, sort=q.sort.value, descending=q.order == "desc"
    )
    return RunPage(items=[RunOut.of(r) for r in items], total=total, limit=q.limit, offset=q.offset)


@router.get("", response_model=RunPage)
def list_runs(
    services: ServicesDep, _: Viewer, q: Annotated[RunListQueryWithPipeline, Query()]
) -> RunPage:
    """Runs, newest first by default; filter by pipeline, status and creation time."""
    return run_page(services, q, RunFilter(pipeline=q.pipeline))


@router.get("/{run_id}", response_model=RunOut, responses=errors(404))
def get_run(run_id: RunId, services: ServicesDep, _: Viewer) -> RunOut:
    return RunOut.of(services.run_service.get(run_id))


@router.post("/{run_id}/cancel", response_model=RunOut, responses=errors(404, 409))
def cancel_run(run_id: RunId, services: ServicesDep, _: Operator) -> RunOut:
    """Cancel a PENDING run, or stop a RUNNING one (SIGTERM, then SIGKILL after a grace)."""
    return RunOut.of(services.run_service.cancel(run_id))


@router.post(
    "/{run_id}/retry", response_model=RunOut, status_code=202, responses=errors(404, 409, 429)
)
def retry_run(run_id: RunId, services: ServicesDep, user: Operator) -> RunOut:
    """Start a new attempt of a finished run with the same parameters."""
    return RunOut.of(services.run_service.retry(run_id, triggered_by=user.username))


@router.get("/{run_id}/health", responses=errors(404))
async def check_run_health(run_id: RunId, services: ServicesDep, _: Viewer) -> dict[str, Any]:
    """Check a running run now: its container's state and how long it has been silent."""
    run = await asyncio.to_thread(services.run_service.get, run_id)
    body: dict[str, Any] = {"run_id": run.id, "status": run.status, "executor": run.executor}
    found = await services.run_service.health(run.id)
    if found is None:
        finished = RunStatus(run.status).is_terminal
        reason = "the run has finished" if finished else "the run is not executing on this server"
        return body | {"checked": False, "healthy": None, "reason": reason}
    return body | {"checked": True} | found


def _log_path(services: Services, run_id: str) -> FsPath:
    # Known runs only (the id reaches the file system only then); an archived log comes
    # back from the object store (ARCHIVE_LOGS=true).
    return services.run_service.log_path(run_id)


@router.get(
    "/{run_id}/logs",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {}, "application/x-ndjson": {}},
            "description": "the lines as text, or (`format=json`) their events as JSON lines",
        },
        **errors(404),
    },
)
def get_run_log(
    run_id: RunId,
    services: ServicesDep,
    _: Viewer,
    from_seq: Annotated[int | None, Query(ge=1)] = None,
    to_seq: Annotated[int | None, Query(ge=1)] = None,
    tail: Annotated[int | None, Query(ge=1, le=MAX_LOG_EVENTS)] = None,
    format: Annotated[str, Query(pattern="^(text|json|array)$")] = "text",
) -> Response:
    """Log lines as text; `format=json`: the events with seq as JSON lines; `format=array`:
    one JSON array of `{seq, stream, text, timestamp}`. A seq range or the tail."""
    if tail is not None and (from_seq is not None or to_seq is not None):
        raise InvalidInputError("use either 'tail' or 'from_seq'/'to_seq', not both")
    if from_seq is not None and to_seq is not None and to_seq < from_seq:
        raise InvalidInputError("'to_seq' must not be smaller than 'from_seq'")
    path = _log_path(services, run_id)
    if tail is not None:
        events = tail_log_lines(path, tail)
    else:
        events = list(
            read_events(path, from_seq or 1, to_seq, types=frozenset({LOG}), limit=MAX_LOG_EVENTS)
        )
    if format == "json":
        return Response(_json_lines(events), media_type="application/x-ndjson")
    if format == "array":
        return Response(_json_array(events), media_type="application/json")
    return PlainTextResponse("".join(format_log_text(events)))


@router.get("/{run_id}/events/history", responses=errors(404))
def get_run_event_history(
    run_id: RunId,
    services: ServicesDep,
    _: Viewer,
    from_seq: Annotated[int, Query(ge=1)] = 1,
    to_seq: Annotated[int | None, Query(ge=1)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LOG_EVENTS)] = 10_000,
) -> Response:
    """All event types (log, status, metrics, error, complete) with seq, as JSON lines."""
    path = _log_path(services, run_id)
    events = read_events(path, from_seq, to_seq, types=EVENT_TYPES, limit=limit)
    return Response(_json_lines(list(events)), media_type="application/x-ndjson")


@router.get("/{run_id}/logs/download", responses=errors(404))
def download_run_log(run_id: RunId, services: ServicesDep, _: Viewer) -> Response:
    """The whole log as a text file."""
    path = _log_path(services, run_id)
    # Streamed: a log of millions of lines is never held in memory at once.
    return StreamingResponse(
        (line.encode() for line in format_log_text(read_events(path))),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="run-{run_id}.log"'},
    )


@router.get("/{run_id}/metrics", responses=errors(404))
def get_run_metrics(run_id: RunId, services: ServicesDep, _: Viewer) -> list[dict[str, Any]]:
    """CPU and RAM samples over the run's life (JSON list)."""
    return services.run_service.metrics(run_id)


@router.get("/{run_id}/metrics/download", responses=errors(404))
def download_run_metrics(run_id: RunId, services: ServicesDep, _: Viewer) -> Response:
    path = services.run_service.metrics_path(run_id)
    if not path.exists():
        raise NotFoundError(f"run {run_id} has no metrics yet")
    return FileResponse(
        path, media_type="application/x-ndjson", filename=f"run-{run_id}-metrics.jsonl"
    )


def _json_array(events: list[dict[str, Any]]) -> bytes:
    return orjson.dumps(
        [
            {"seq": e["seq"], "stream": e["stream"], "text": e["line"], "timestamp": e["ts"]}
            | ({"partial": True} if e.get("partial") else {})
            for e in events
        ]
    )


def _json_lines(events: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)
