"""WebSocket: `/ws/runs/{id}?since=SEQ` (also `/ws/build/{id}`) — a run's events, live,
resumable by seq.

Two wire formats: by default the live build protocol (`api/build_protocol.py`: one `log`
message per line with `text` and `timestamp`, `status` with progress, `complete` with
artifacts); with `?batch=1` the batched format of `api/streaming.py` (consecutive lines in
one `log` message), which the served `FastflowRunStream` client uses for speed.

Credentials: `Authorization: Bearer`, `?token=`, or the console's session cookie when the
Origin is this server's own. Close codes: 1000 after `complete`; 4401 not authenticated (no
or an invalid token); 4403 refused (a session cookie from another origin); 1008 (policy) for
too many open streams, an idle stream, or a client too slow to accept data; 4404 for an
unknown run; 4422 for an invalid `since` or `batch`. The close reason always says which, in
a sentence.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import anyio
import orjson
from fastapi import WebSocket, WebSocketDisconnect
from starlette.websockets import WebSocketState

from fastflow.api import build_protocol
from fastflow.api.deps import websocket_user
from fastflow.api.router import ApiRouter
from fastflow.api.streaming import Encoder, connected_message, run_stream
from fastflow.errors import FastflowError, NotFoundError
from fastflow.events.stream import RunEventStream
from fastflow.models import Role
from fastflow.records import User
from fastflow.services import Services

router = ApiRouter(tags=["events"])

POLICY = 1008
NOT_FOUND = 4404
INVALID = 4422


class _Closing(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def _authenticate(websocket: WebSocket, services: Services) -> User:
    """The one WebSocket authentication (`websocket_user`): 4401 / 4403 when it refuses."""
    try:
        return websocket_user(websocket, Role.VIEWER)
    except FastflowError as exc:
        message = exc.message
        if exc.status_code == 401 and "not authenticated" in message:
            message = (
                "not authenticated: send 'Authorization: Bearer <token>', ?token=, or the "
                "console's session cookie"
            )
        raise _Closing(4000 + exc.status_code, message) from None


def _since(websocket: WebSocket) -> int:
    value = websocket.query_params.get("since", "0") or "0"
    if not value.isdigit():
        raise _Closing(INVALID, "query parameter 'since' must be a seq number (0 or more)")
    return int(value)


def _batched(websocket: WebSocket) -> bool:
    value = (websocket.query_params.get("batch") or "0").lower()
    if value not in ("0", "1", "true", "false"):
        raise _Closing(INVALID, "query parameter 'batch' must be 1 (batched lines) or 0")
    return value in ("1", "true")


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    if websocket.application_state is WebSocketState.CONNECTED:
        with contextlib.suppress(Exception):
            # Close reasons are limited to 123 bytes by the protocol.
            await websocket.close(code, reason.encode()[:123].decode(errors="ignore"))


@router.websocket("/ws/runs/{run_id}")
@router.websocket("/ws/build/{run_id}")
async def run_events_ws(websocket: WebSocket, run_id: str) -> None:
    """A run's events as JSON messages; the client may send `{"type": "ping"}` any time."""
    services: Services = websocket.app.state.services
    await websocket.accept()  # first, so a refusal can carry a close code and reason
    try:
        user = await asyncio.to_thread(_authenticate, websocket, services)
        since = _since(websocket)
        batched = _batched(websocket)
        try:
            stream = (await asyncio.to_thread(run_stream, services, run_id, since)).stream
        except NotFoundError as exc:
            raise _Closing(NOT_FOUND, exc.message) from None
        try:
            lease = services.streams.open(stream.run_id, user.username, "websocket")
        except FastflowError as exc:
            raise _Closing(POLICY, exc.message) from None
        try:
            await _Session(websocket, stream, services, batched).run()
        finally:
            lease.release()
    except _Closing as closing:
        await _close(websocket, closing.code, closing.reason)
    except WebSocketDisconnect:
        pass


class _Session:
    """Sends the stream and answers pings; whichever side ends first ends both."""

    def __init__(
        self, websocket: WebSocket, stream: RunEventStream, services: Services, batched: bool
    ) -> None:
        self.ws = websocket
        self.stream = stream
        self.batched = batched
        self.encoder: Encoder = websocket.app.state.stream_encoder
        self.build = build_protocol.BuildMessages(stream.run_id)
        self.idle_timeout = services.settings.stream_idle_timeout
        self.send_timeout = services.settings.stream_send_timeout
        self._lock = asyncio.Lock()

    async def run(self) -> None:
        outcome: list[_Closing] = []
        async with anyio.create_task_group() as tasks:

            async def send_all() -> None:
                try:
                    await self._send_stream()
                except _Closing as closing:
                    outcome.append(closing)
                except (WebSocketDisconnect, OSError):
                    pass  # the client left while we were sending
                tasks.cancel_scope.cancel()

            async def receive_all() -> None:
                try:
                    await self._receive()
                except _Closing as closing:
                    outcome.append(closing)
                except (WebSocketDisconnect, OSError):
                    pass
                tasks.cancel_scope.cancel()

            tasks.start_soon(send_all)
            tasks.start_soon(receive_all)
        if outcome:
            raise outcome[0]

    async def _send(self, payload: bytes) -> None:
        try:
            async with self._lock:
                await asyncio.wait_for(self.ws.send_text(payload.decode()), self.send_timeout)
        except TimeoutError:
            raise _Closing(
                POLICY,
                f"client too slow: nothing accepted for {self.send_timeout:g}s; "
                f"reconnect with since={self.stream.cursor}",
            ) from None

    async def _send_stream(self) -> None:
        stream = self.stream
        if self.batched:
            await self._send(connected_message(stream.run_id, stream.cursor, "websocket"))
        else:
            await self._send(build_protocol.connected(stream.run_id, stream.cursor))
        last_delivery = time.monotonic()
        async for item in stream.items():
            if item is None:
                if time.monotonic() - last_delivery >= self.idle_timeout:
                    raise _Closing(
                        POLICY,
                        f"idle: no event for {self.idle_timeout:g}s; "
                        f"reconnect with since={stream.cursor}",
                    )
                await self._send(orjson.dumps({"type": "ping", "seq": stream.cursor}))
                continue
            if self.batched:
                for _, _, payload in self.encoder.messages(stream.run_id, item):
                    await self._send(payload)
            else:
                for payload in self.build.messages(item):
                    await self._send(payload)
            last_delivery = time.monotonic()
        raise _Closing(1000, "run complete")

    async def _receive(self) -> None:
        """Answers pings until the client leaves (other messages are ignored)."""
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text") or ""
            if text.strip() == "ping" or _is_ping(text):
                await self._send(orjson.dumps({"type": "pong", "seq": self.stream.cursor}))


def _is_ping(text: str) -> bool:
    try:
        message = orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return isinstance(message, dict) and message.get("type") == "ping"
