"""`GET /api/logs/stream` (admins): the server's own log records, live, as plain SSE.

Each record is one unnamed SSE message (`EventSource.onmessage` receives it; a multi-line
record, such as a traceback, arrives as one message with its newlines) with `id:` = its
number, so a reconnect resumes after the last one seen. The recent past comes first (the
server keeps its last 1000 records). Stored secret values, `?token=` values and bearer
tokens are masked before a record leaves the server.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable

import anyio
from fastapi import Request
from fastapi.responses import Response

from fastflow.api.deps import Admin, ServicesDep
from fastflow.api.log_redaction import redact
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.api.routes.events_sse import EventStreamResponse
from fastflow.events.connections import StreamLease
from fastflow.monitoring.log_buffer import LogBuffer
from fastflow.secrets.masking import Masker
from fastflow.services import Services

router = ApiRouter(prefix="/api/logs", tags=["server"], responses=AUTHENTICATED)

MASK_REFRESH = 10.0  # seconds between re-reading the secrets to mask
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")


@router.get(
    "/stream",
    response_class=Response,
    responses={
        200: {"content": {"text/event-stream": {}}, "description": "log records"},
        **errors(429),
    },
)
def stream_server_log(request: Request, services: ServicesDep, user: Admin) -> Response:
    """The server's log records as SSE `data:` messages, the recent past first; resumes
    after `Last-Event-ID`. Secrets are masked."""
    buffer: LogBuffer = request.app.state.log_buffer
    raw = request.headers.get("last-event-id", "").strip()
    after = int(raw) if raw.isdigit() and len(raw) < 19 else 0
    if after > buffer.last_seq:
        after = 0  # an id from before a restart: start with what this server holds
    lease = services.streams.open(None, user.username, "sse")
    return EventStreamResponse(_records(services, buffer, after, lease), lease.release)


def _masker(services: Services) -> Callable[[str], str]:
    masker = Masker(services.secrets.all_secret_values())

    def mask(text: str) -> str:
        return _BEARER.sub(r"\1***", redact(masker.mask(text)))

    return mask


async def _records(
    services: Services, buffer: LogBuffer, after: int, lease: StreamLease
) -> AsyncIterator[bytes]:
    settings = services.settings
    try:
        yield b": connected\n\n"
        retry = b"retry: 2000\n"  # sent with the first record (alone it would be an event)
        mask = await anyio.to_thread.run_sync(_masker, services)
        masked_at = last_record = last_sent = time.monotonic()
        while True:
            if time.monotonic() - masked_at >= MASK_REFRESH:
                mask = await anyio.to_thread.run_sync(_masker, services)
                masked_at = time.monotonic()
            records = buffer.after(after)
            if records:
                yield retry + b"".join(_frame(seq, mask(text)) for seq, text in records)
                after, retry = records[-1][0], b""
                last_record = last_sent = time.monotonic()
                continue
            idle_left = settings.stream_idle_timeout - (time.monotonic() - last_record)
            if idle_left <= 0:
                return  # EventSource reconnects after `retry` and resumes by its id
            wait = max(0.01, min(1.0, settings.stream_keepalive, idle_left))
            woken = await buffer.wait(after, wait)
            if not woken and time.monotonic() - last_sent >= settings.stream_keepalive:
                yield b": keep-alive\n\n"
                last_sent = time.monotonic()
    finally:
        lease.release()


def _frame(seq: int, text: str) -> bytes:
    data = "".join(f"data: {line}\n" for line in text.replace("\r", "").split("\n"))
    return f"id: {seq}\n{data}\n".encode()
