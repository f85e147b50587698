"""The job API for job-tracking clients: start a job, poll it, or follow it as plain SSE.

A job is a run; `job_view` gives it their status words (pending, running, completed, failed).
The stream sends unnamed `data:` messages — what `EventSource.onmessage` receives — each the
whole job object, whenever it changes, and ends after the final one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import orjson
from fastapi import Header
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from fastflow.api import job_view
from fastflow.api.deps import Operator, ServicesDep, Viewer
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.api.routes.events_sse import EventStreamResponse
from fastflow.api.routes.runs import RunId
from fastflow.events import types as ev
from fastflow.events.connections import StreamLease
from fastflow.events.fanout import Subscription
from fastflow.models import Trigger
from fastflow.records import Run
from fastflow.services import Services

router = ApiRouter(prefix="/api/jobs", tags=["jobs"], responses=AUTHENTICATED)

FINAL_ID = "final"
"""The SSE id of a job's last message: reconnecting with it gets 204, so EventSource stops."""
POLL = 1.0  # the run row is read at least this often while nothing is published
SETTLE_POLL = 0.05  # after `complete`, until the row says how the run ended …
SETTLE_FOR = 10.0  # … for at most this long (then at POLL again)


class JobCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline: str = Field(min_length=1, max_length=200, description="the pipeline to run")
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=200)


class JobStarted(BaseModel):
    job_id: str
    status: str
    poll_url: str
    stream_url: str


def _job(services: Services, run: Run, live: int | None = None) -> dict[str, Any]:
    return job_view.job(run, job_view.artifact_names(services, run), live)


@router.post("", response_model=JobStarted, responses=errors(404, 409, 429))
def create_job(body: JobCreate, services: ServicesDep, user: Operator) -> JobStarted:
    """Start a run of `pipeline`; poll `poll_url` or follow `stream_url` (SSE)."""
    run = services.run_service.start(
        body.pipeline, body.parameters, Trigger.API, triggered_by=user.username
    )
    return JobStarted(
        job_id=run.id,
        status=job_view.word(run.status),
        poll_url=f"/api/jobs/{run.id}",
        stream_url=f"/api/jobs/{run.id}/stream",
    )


@router.get("/{job_id}", responses=errors(404))
def get_job(job_id: RunId, services: ServicesDep, _: Viewer) -> dict[str, Any]:
    """The job: `status` (pending, running, completed, failed), `progress` (0-100),
    `result` once completed, `error` once failed."""
    return _job(services, services.run_service.get(job_id))


@router.get(
    "/{job_id}/stream",
    response_class=Response,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the job, on each change"},
        204: {"description": "the job is over and the client has its final state"},
        **errors(404, 429),
    },
)
def stream_job(
    job_id: RunId,
    services: ServicesDep,
    user: Viewer,
    last_event_id: Annotated[
        str | None, Header(max_length=100, description="Set by EventSource on reconnect")
    ] = None,
) -> Response:
    """The job as unnamed SSE `data:` messages (the whole job object each time it changes);
    ends after the final state."""
    run = services.run_service.get(job_id)
    if last_event_id == FINAL_ID and job_view.finished(run):
        return Response(status_code=204)
    lease = services.streams.open(run.id, user.username, "sse")
    return EventStreamResponse(_frames(services, run.id, lease), lease.release)


def _frame(job: dict[str, Any]) -> bytes:
    head = f"id: {FINAL_ID}\n".encode() if job["status"] in ("completed", "failed") else b""
    return head + b"data: " + orjson.dumps(job) + b"\n\n"


async def _frames(services: Services, run_id: str, lease: StreamLease) -> AsyncIterator[bytes]:
    settings = services.settings
    fanout = services.fanout
    sub = fanout.subscribe(run_id)  # wakes us when the run reports something
    try:
        retry = b"retry: 2000\n"  # sent with the first message (alone it would be an event)
        sent: dict[str, Any] | None = None
        live: int | None = None
        settle_until = 0.0  # after `complete`: read the row often until it shows the end
        last_change = last_sent = time.monotonic()
        while True:
            run, job = await asyncio.to_thread(_current, services, run_id, live)
            now = time.monotonic()
            if job != sent:
                yield retry + _frame(job)
                sent, last_change, last_sent, retry = job, now, now, b""
            if job_view.finished(run):
                return
            if now - last_change >= settings.stream_idle_timeout:
                return  # EventSource reconnects and gets the job again
            if now < settle_until:
                await asyncio.sleep(SETTLE_POLL)
                continue
            batch = await _next_report(sub, POLL)
            if batch is None:  # the feed ended (`complete` is written) or overflowed
                ended = not sub.overflowed
                sub.close()
                sub = fanout.subscribe(run_id)
                if ended:
                    settle_until = time.monotonic() + SETTLE_FOR
                continue
            for event in batch:
                if event["type"] == ev.STATUS and isinstance(event.get("progress"), int):
                    live = event["progress"]
                if event["type"] == ev.COMPLETE:
                    settle_until = time.monotonic() + SETTLE_FOR
            if not batch and time.monotonic() - last_sent >= settings.stream_keepalive:
                yield b": keep-alive\n\n"
                last_sent = time.monotonic()
    finally:
        sub.close()
        lease.release()


def _current(services: Services, run_id: str, live: int | None) -> tuple[Run, dict[str, Any]]:
    run = services.run_service.get(run_id)
    return run, _job(services, run, live)


async def _next_report(sub: Subscription, timeout: float) -> list[ev.Event] | None:
    """The next live events that may change the job ([] after `timeout` without any)."""
    deadline = time.monotonic() + timeout
    while True:
        batch = await sub.get(timeout=max(0.0, deadline - time.monotonic()))
        if batch is None or not batch:
            return batch
        reports = [e for e in batch if e["type"] in (ev.STATUS, ev.COMPLETE)]
        if reports:
            return reports
        if time.monotonic() >= deadline:
            return []
