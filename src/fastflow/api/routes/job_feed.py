"""WebSocket `/ws`: every job's status changes on one socket, for dashboards.

Each message is a job object (`job_view.job`, plus `"type": "job"`): first the jobs that are
pending or running when the socket opens, then every change of any job's status or progress.
Viewers may see every run, so every job is sent.

One poller per server reads the runs that are active or new (two indexed queries every
`INTERVAL` seconds, only while someone listens) and hands each change to every socket; it
works the same whichever dispatcher runs the runs, since the database is where their state is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from fastapi import WebSocket, WebSocketDisconnect

from fastflow.api import job_view
from fastflow.api.deps import accept_authenticated
from fastflow.api.router import ApiRouter
from fastflow.errors import FastflowError, NotFoundError
from fastflow.models import Role, RunStatus
from fastflow.records import Run, RunFilter
from fastflow.services import Services

router = ApiRouter(tags=["jobs"])
log = logging.getLogger(__name__)

INTERVAL = 0.5
QUEUE = 1000  # changes waiting for one socket; a socket further behind is closed
ACTIVE = [RunStatus.PENDING.value, RunStatus.RUNNING.value]
PAGE = 1000


class JobFeed:
    """Polls job states while sockets listen and tells each socket what changed."""

    def __init__(self, services: Services, interval: float = INTERVAL) -> None:
        self.services = services
        self.interval = interval
        self._queues: set[asyncio.Queue[dict[str, Any] | None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._known: dict[str, tuple[str, int]] = {}
        self._active: set[str] = set()
        self._since = datetime.now(UTC)

    def subscribe(self) -> asyncio.Queue[dict[str, Any] | None]:
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(QUEUE)
        self._queues.add(queue)
        if self._task is None or self._task.done():
            self._since = datetime.now(UTC) - timedelta(seconds=5)
            self._task = asyncio.create_task(self._poll(), name="fastflow-job-feed")
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
        self._queues.discard(queue)

    def active_jobs(self) -> list[dict[str, Any]]:
        """The jobs pending or running now (what a new socket is sent first)."""
        runs, _ = self.services.run_service.search(
            RunFilter(statuses=ACTIVE), limit=PAGE, sort="created_at", descending=False
        )
        return [job_view.job(r, []) for r in runs]

    async def _poll(self) -> None:
        while self._queues:
            try:
                changed = await asyncio.to_thread(self._changes)
            except Exception:  # a database hiccup: the next round tries again
                log.warning("job feed: reading the runs failed", exc_info=True)
                changed = []
            for job in changed:
                for queue in list(self._queues):
                    try:
                        queue.put_nowait(job)
                    except asyncio.QueueFull:
                        self._queues.discard(queue)
                        with contextlib.suppress(asyncio.QueueFull):
                            queue.get_nowait()
                            queue.put_nowait(None)  # tells the socket it fell behind
            await asyncio.sleep(self.interval)

    def _changes(self) -> list[dict[str, Any]]:
        """Jobs whose status or progress differ from the last round's."""
        runs = self.services.run_service
        started = datetime.now(UTC)
        active, _ = runs.search(RunFilter(statuses=ACTIVE), limit=PAGE)
        new, _ = runs.search(RunFilter(since=self._since), limit=PAGE)
        current: dict[str, Run] = {r.id: r for r in [*active, *new]}
        for run_id in self._active - current.keys():  # left the active set since last round
            with contextlib.suppress(NotFoundError):
                current[run_id] = runs.get(run_id)
        self._since = started - timedelta(seconds=5)  # overlap: rows committed late
        self._active = {r.id for r in active}
        changed = []
        for run in current.values():
            state = (run.status, run.progress or 0)
            if self._known.get(run.id) != state:
                self._known[run.id] = state
                changed.append(job_view.job(run, job_view.artifact_names(self.services, run)))
        # Forget finished jobs once they are out of the "new" window: they change no more.
        self._known = {k: v for k, v in self._known.items() if k in current}
        changed.sort(key=lambda j: str(j["created_at"]))
        return changed


@router.websocket("/ws")
async def job_feed(websocket: WebSocket) -> None:
    """Every job's status changes (viewers and up); send `ping` for a `pong`."""
    user = await accept_authenticated(websocket, Role.VIEWER)
    if user is None:
        return
    services: Services = websocket.app.state.services
    try:
        lease = services.streams.open(None, user.username, "websocket")
    except FastflowError as exc:
        await websocket.close(1008, exc.message[:120])
        return
    feed: JobFeed = websocket.app.state.job_feed
    queue = feed.subscribe()
    try:
        for job in await asyncio.to_thread(feed.active_jobs):
            await websocket.send_text(_message(job))
        async with asyncio.TaskGroup() as tasks:
            sender = tasks.create_task(_send(websocket, queue))
            tasks.create_task(_receive(websocket, sender))
    except* (WebSocketDisconnect, OSError):
        pass
    finally:
        feed.unsubscribe(queue)
        lease.release()


def _message(job: dict[str, Any]) -> str:
    return orjson.dumps({"type": "job", **job}).decode()


async def _send(websocket: WebSocket, queue: asyncio.Queue[dict[str, Any] | None]) -> None:
    while True:
        job = await queue.get()
        if job is None:
            await websocket.close(1008, "client too slow: reconnect for the current jobs")
            return
        await websocket.send_text(_message(job))


async def _receive(websocket: WebSocket, sender: asyncio.Task[None]) -> None:
    """Answers pings; when the client leaves, stops the sender."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = (message.get("text") or "").strip()
            if text == "ping" or text.replace(" ", "") == '{"type":"ping"}':
                await websocket.send_text('{"type": "pong"}')
    finally:
        sender.cancel()
