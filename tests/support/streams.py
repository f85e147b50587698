"""Real stream clients for tests: httpx + httpx-sse, and the `websockets` client (the batched
format, `?batch=1`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets
from httpx_sse import aconnect_sse


@dataclass
class Received:
    """What one client saw: wire messages in order, and the log lines they carried."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    last_id: str | None = None
    closed: tuple[int, str] | None = None

    @property
    def lines(self) -> list[tuple[int, str]]:
        return [
            (line["seq"], line["line"])
            for m in self.messages
            if m["type"] == "log"
            for line in m["lines"]
        ]

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["type"] == kind]

    @property
    def complete(self) -> bool:
        return any(m["type"] == "complete" for m in self.messages)


async def sse(
    base: str,
    token: str,
    run_id: str,
    *,
    since: int | None = None,
    last_event_id: str | None = None,
    stop_after_lines: int | None = None,
    into: Received | None = None,
) -> Received:
    """Read the SSE stream until it ends (or `stop_after_lines` lines, then hang up)."""
    got = into or Received()
    headers = {"Authorization": f"Bearer {token}"}
    if last_event_id is not None:
        headers["Last-Event-ID"] = last_event_id
    params = {"since": since} if since is not None else {}
    async with (
        httpx.AsyncClient(base_url=base, timeout=60) as client,
        aconnect_sse(
            client, "GET", f"/api/runs/{run_id}/events", headers=headers, params=params
        ) as source,
    ):
        source.response.raise_for_status()
        async for event in source.aiter_sse():
            data = json.loads(event.data)
            assert event.event == data.get("type", event.event), (event.event, data)
            if event.id:
                assert int(event.id) == data["seq"]
                got.last_id = event.id
            got.messages.append(data)
            if stop_after_lines is not None and len(got.lines) >= stop_after_lines:
                break
    return got


async def ws(
    base: str,
    token: str | None,
    run_id: str,
    *,
    since: int = 0,
    query_token: bool = False,
    stop_after_lines: int | None = None,
    into: Received | None = None,
) -> Received:
    """Read the WebSocket stream until the server closes it (or hang up early)."""
    got = into or Received()
    url = base.replace("http://", "ws://") + f"/ws/runs/{run_id}?since={since}&batch=1"
    headers = {}
    if token and query_token:
        url += f"&token={token}"
    elif token:
        headers["Authorization"] = f"Bearer {token}"
    async with websockets.connect(url, additional_headers=headers, max_size=None) as conn:
        try:
            async for raw in conn:
                data = json.loads(raw)
                got.messages.append(data)
                if stop_after_lines is not None and len(got.lines) >= stop_after_lines:
                    return got
        except websockets.ConnectionClosed:
            pass
        assert conn.close_code is not None
        got.closed = (conn.close_code, conn.close_reason or "")
    return got
