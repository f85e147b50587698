"""Live run events over real SSE and WebSocket clients against a real server."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from fastflow.settings import Settings
from tests.support.server import LiveServer, start_server, wait_for_run
from tests.support.streams import Received, sse, ws

FAST = {"LOG_STREAM_RATE_LIMIT": 1_000_000}


@pytest.fixture
def make_server(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def make(**overrides: Any) -> LiveServer:
        live = start_server(make_settings(**overrides))
        started.append(live)
        return live

    yield make
    for live in started:
        live.stop()


def start(client: httpx.Client, pipeline: str, **params: Any) -> str:
    r = client.post(f"/api/pipelines/{pipeline}/run", json={"parameters": params})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def expected(n: int, first_seq: int) -> list[str]:
    return [f"line {i}" for i in range(1, n + 1)]


def assert_exact(got: Received, lines: int) -> None:
    """Every line once, in order, with strictly increasing seqs, then `complete`."""
    texts = [t for _, t in got.lines if t.startswith("line ")]
    assert texts == [f"line {i}" for i in range(1, lines + 1)]
    seqs = [s for s, _ in got.lines]
    assert seqs == sorted(set(seqs))
    assert got.messages[-1]["type"] == "complete", got.messages[-3:]


async def wait_viewers(client: httpx.AsyncClient, run_id: str, count: int) -> None:
    for _ in range(600):
        streams = (await client.get("/api/streams")).json()["streams"]
        if any(s["run_id"] == run_id and s["clients"] >= count for s in streams):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} viewers never attached to {run_id}")


async def test_many_clients_reconnects_and_replay(
    make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = make_server(**FAST)
    token = server.login()
    gate = tmp_path / "gate"
    lines = 20_000
    with server.client(token) as client:
        run_id = start(client, "counter", LINES=lines, GATE=str(gate), PAUSE=0.001)
    async with httpx.AsyncClient(
        base_url=server.url, headers={"Authorization": f"Bearer {token}"}
    ) as api:
        viewers = [sse(server.url, token, run_id) for _ in range(4)]
        viewers += [ws(server.url, token, run_id) for _ in range(3)]
        viewers.append(ws(server.url, token, run_id, query_token=True))
        # Two clients that hang up mid-stream and resume from the last seq they saw.
        first_sse = Received()
        first_ws = Received()
        quitters = [
            sse(server.url, token, run_id, stop_after_lines=5_000, into=first_sse),
            ws(server.url, token, run_id, stop_after_lines=7_000, into=first_ws),
        ]
        tasks = [asyncio.create_task(c) for c in [*viewers, *quitters]]
        await wait_viewers(api, run_id, len(tasks))
        streams = (await api.get("/api/streams")).json()["streams"]
        mine = next(s for s in streams if s["run_id"] == run_id)
        assert (mine["sse"], mine["websocket"]) == (5, 5)
        gate.touch()
        results = await asyncio.gather(*tasks)
        await sse(server.url, token, run_id, last_event_id=first_sse.last_id, into=first_sse)
        resume_at = first_ws.lines[-1][0]
        await ws(server.url, token, run_id, since=resume_at, into=first_ws)
    for got in [*results[: len(viewers)], first_sse, first_ws]:
        assert_exact(got, lines)
    assert first_ws.closed == (1000, "run complete")
    statuses = [m for m in results[0].messages if m["type"] == "status"]
    assert statuses[-1]["progress"] == 100 and statuses[-1]["text"] == "done"

    # The finished run replays fully on both transports, from the start or any seq.
    replay = await sse(server.url, token, run_id)
    assert_exact(replay, lines)
    assert replay.messages[0]["type"] == "connected"
    middle = replay.lines[lines // 2][0]
    tail = await ws(server.url, token, run_id, since=middle)
    assert [s for s, _ in tail.lines] == [s for s, _ in replay.lines if s > middle]
    last = replay.messages[-1]["seq"]
    r = httpx.get(
        f"{server.url}/api/runs/{run_id}/events",
        headers={"Authorization": f"Bearer {token}", "Last-Event-ID": str(last)},
    )
    assert r.status_code == 204  # nothing left: EventSource stops reconnecting
    bad = httpx.get(
        f"{server.url}/api/runs/{run_id}/events",
        headers={"Authorization": f"Bearer {token}", "Last-Event-ID": "abc"},
    )
    assert bad.status_code == 422 and "Last-Event-ID" in bad.json()["detail"]
    missing = httpx.get(
        f"{server.url}/api/runs/nope/events", headers={"Authorization": f"Bearer {token}"}
    )
    assert missing.status_code == 404


async def test_rate_limit_gaps_are_exact_and_fetchable(
    make_server: Callable[..., LiveServer],
) -> None:
    server = make_server(LOG_STREAM_RATE_LIMIT=200)
    token = server.login()
    lines = 5_000
    with server.client(token) as client:
        run_id = start(client, "counter", LINES=lines)
        wait_for_run(client, run_id)
        for got in (await sse(server.url, token, run_id), await ws(server.url, token, run_id)):
            gaps = got.of("gap")
            assert gaps, "5,000 lines at once must exceed 200 lines/s"
            delivered = dict(got.lines)
            filled: dict[int, str] = {}
            for gap in gaps:
                assert gap["count"] == gap["to_seq"] - gap["from_seq"] + 1
                r = client.get(gap["url"] + "&format=json")
                rows = [httpx.Response(200, content=x).json() for x in r.content.splitlines()]
                assert [e["seq"] for e in rows] == list(range(gap["from_seq"], gap["to_seq"] + 1))
                filled.update((e["seq"], e["line"]) for e in rows)
            assert not set(delivered) & set(filled)
            merged = [t for _, t in sorted({**delivered, **filled}.items())]
            assert [t for t in merged if t.startswith("line ")] == expected(lines, 1)
            assert got.messages[-1]["type"] == "complete"


async def test_a_client_that_stops_reading_does_not_stall_others(
    make_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    server = make_server(**FAST)
    token = server.login()
    gate = tmp_path / "gate"
    lines = 150_000  # ~6 MB of events: far more than socket buffers hold
    with server.client(token) as client:
        run_id = start(client, "counter", LINES=lines, GATE=str(gate))
    stuck = socket.socket()
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect: a tiny window
    stuck.connect(("127.0.0.1", int(server.url.rsplit(":", 1)[1])))
    stuck.sendall(
        f"GET /api/runs/{run_id}/events HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    try:
        async with httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}
        ) as api:
            healthy = asyncio.create_task(sse(server.url, token, run_id))
            await wait_viewers(api, run_id, 2)
            gate.touch()
            got = await asyncio.wait_for(healthy, 120)
        assert_exact(got, lines)
        with server.client(token) as client:
            assert wait_for_run(client, run_id)["status"] == "SUCCESS"
    finally:
        stuck.close()


async def test_auth_cap_idle_and_ping(make_server: Callable[..., LiveServer]) -> None:
    server = make_server(
        FASTFLOW_STREAM_MAX_PER_USER=2,
        FASTFLOW_STREAM_IDLE_TIMEOUT=0.6,
        FASTFLOW_STREAM_KEEPALIVE=0.2,
        MAX_CONCURRENT_RUNS=1,
    )
    token = server.login()
    with server.client(token) as client:
        busy = start(client, "sleeper", SECONDS_TO_RUN=30)
        waiting = start(client, "hello")  # stays PENDING behind `busy`: a quiet stream
    base = server.url
    for bad in (None, "not-a-token"):
        got = await ws(base, bad, waiting)
        assert got.closed is not None and got.closed[0] == 4401
        assert "token" in got.closed[1] or "authenticated" in got.closed[1]
    unknown = await ws(base, token, "no-such-run")
    assert unknown.closed is not None and unknown.closed[0] == 4404
    # Idle: nothing happens on a PENDING run, so the server closes with a reason.
    idle_ws = await ws(base, token, waiting)
    assert idle_ws.closed is not None and idle_ws.closed[0] == 1008
    assert idle_ws.closed[1].startswith("idle")
    assert idle_ws.of("ping"), "keep-alive pings while quiet"
    idle_sse = await sse(base, token, waiting)
    assert idle_sse.messages[-1]["code"] == "idle"
    # The cap: two open streams per user, the third is refused on both transports.

    url = base.replace("http", "ws") + f"/ws/runs/{busy}?token={token}"
    async with websockets.connect(url) as one, websockets.connect(url) as two:
        assert '"connected"' in await one.recv() and '"connected"' in await two.recv()
        await one.send('{"type": "ping"}')
        kinds = []
        while "pong" not in kinds and len(kinds) < 10_000:  # the rest are the run's events
            kinds.append(json.loads(await one.recv())["type"])
        assert "pong" in kinds
        third = await ws(base, token, busy)
        assert third.closed is not None and third.closed[0] == 1008
        assert "too many open streams" in third.closed[1]
        r = httpx.get(f"{base}/api/runs/{busy}/events", params={"token": token})
        assert r.status_code == 429 and "limit is 2" in r.json()["detail"]
    with server.client(token) as client:
        client.post(f"/api/runs/{busy}/cancel")
        wait_for_run(client, busy)


async def test_metrics_arrive_live_on_both_transports(server: LiveServer) -> None:
    token = server.login()
    with server.client(token) as client:
        run_id = start(client, "sleeper", SECONDS_TO_RUN=1.5)
    over_sse, over_ws = await asyncio.gather(
        sse(server.url, token, run_id), ws(server.url, token, run_id)
    )
    for got in (over_sse, over_ws):
        metrics = got.of("metrics")
        assert metrics and {"cpu_percent", "ram_mb"} <= set(metrics[0])
        assert got.messages[-1]["type"] == "complete" and got.messages[-1]["success"]
