"""Server-Sent Events: `GET /api/runs/{id}/events` — a run's events, live, resumable by seq."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated

import anyio
import orjson
from fastapi import Header, Query, Request
from fastapi.responses import Response
from starlette.types import Receive, Scope, Send

from fastflow.api.deps import ServicesDep, Viewer
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.api.streaming import (
    Encoder,
    connected_message,
    run_stream,
    sse_frame,
)
from fastflow.errors import InvalidInputError
from fastflow.events.connections import StreamLease
from fastflow.events.stream import RunEventStream

router = ApiRouter(prefix="/api/runs", tags=["events"], responses=AUTHENTICATED)

_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Accel-Buffering": "no",  # a reverse proxy must not hold events back
}


class EventStreamResponse(Response):
    """text/event-stream that notices a client leaving at once and always releases its lease.

    Starlette's StreamingResponse may leave the generator un-closed on disconnect; a stream
    holds a fan-out subscription and counts against the user's cap, so cleanup is explicit.
    """

    media_type = "text/event-stream"

    def __init__(self, body: AsyncIterator[bytes], on_close: Callable[[], None]) -> None:
        # Not Response.__init__: it would announce a Content-Length for an empty body.
        self.status_code = 200
        self.background = None
        self.init_headers(_HEADERS)
        self._body = body
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            async with anyio.create_task_group() as tasks:

                async def watch_disconnect() -> None:
                    while (await receive())["type"] != "http.disconnect":
                        pass
                    tasks.cancel_scope.cancel()

                tasks.start_soon(watch_disconnect)
                with contextlib.suppress(OSError):
                    async for chunk in self._body:
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                tasks.cancel_scope.cancel()
        finally:
            with contextlib.suppress(Exception):
                await self._body.aclose()  # type: ignore[attr-defined]
            self._on_close()


async def _events(
    stream: RunEventStream, encoder: Encoder, idle_timeout: float, lease: StreamLease
) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 2000\n" + sse_frame(
            "connected", None, connected_message(stream.run_id, stream.cursor, "sse")
        )
        last_delivery = time.monotonic()
        async for item in stream.items():
            if item is None:
                if time.monotonic() - last_delivery >= idle_timeout:
                    reason = {
                        "code": "idle",
                        "reason": f"no event for {idle_timeout:g}s; reconnect to continue",
                    }
                    yield sse_frame("close", None, orjson.dumps(reason))
                    return
                yield b": keep-alive\n\n"
                continue
            chunk = encoder.sse(stream.run_id, item)
            last_delivery = time.monotonic()
            yield chunk
    finally:
        lease.release()


@router.get(
    "/{run_id}/events",
    response_class=Response,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "the event stream"},
        204: {"description": "the run is over and nothing is left after the given seq"},
        **errors(404, 429),
    },
)
def stream_run_events(
    run_id: str,
    request: Request,
    services: ServicesDep,
    user: Viewer,
    since: Annotated[int | None, Query(ge=0, description="Events after this seq")] = None,
    last_event_id: Annotated[
        str | None, Header(description="Set by EventSource on reconnect")
    ] = None,
) -> Response:
    """A run's events as SSE (`id:` is the seq): the past from the log file, then live.

    Resumes after `Last-Event-ID` (or `since`); keep-alive comments while quiet; ends after
    `complete`. Log lines over `LOG_STREAM_RATE_LIMIT` per second arrive as `gap` events with
    the exact seq range. 204 when the run is over and nothing is left after the given seq.
    """
    cursor = since or 0
    if last_event_id:
        try:
            cursor = max(0, int(last_event_id))
        except ValueError:
            raise InvalidInputError("header 'Last-Event-ID' must be a seq number") from None
    opened = run_stream(services, run_id, cursor)
    if opened.nothing_left:
        return Response(status_code=204)
    stream = opened.stream
    lease = services.streams.open(stream.run_id, user.username, "sse")
    encoder: Encoder = request.app.state.stream_encoder
    body = _events(stream, encoder, services.settings.stream_idle_timeout, lease)
    return EventStreamResponse(body, lease.release)
