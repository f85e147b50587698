"""A worker on its own test host: a network namespace reaching Redis and the server only over
a veth link, with none of the server's folders visible (it gets its code from the bundle)."""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
import pytest

from tests.distributed.conftest import OwnCluster
from tests.distributed.test_celery_runs import _wait_ticks
from tests.support.server import assert_exactly_once, event_history, start_run, wait_for_run
from tests.support.streams import Received, sse, ws
from tests.support.workers import write_retried_pipeline

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

# Prints whether the server's data folder can be seen from where the run executes.
PEEK = """
import os, time
data = os.environ["SERVER_DATA"]
try:
    visible = os.path.isdir(data) and bool(os.listdir(data))
except OSError:
    visible = False
print(f"server data visible: {visible}", flush=True)
for i in range(15):
    print(f"tick {i}", flush=True)
    time.sleep(0.1)
print("finished")
"""

_PROBE = """
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    socket.create_connection((host, port), timeout=3).close()
    print("reachable")
except OSError as exc:
    print("unreachable", exc)
"""


def _probe(cluster: OwnCluster, host: str, port: int) -> str:
    assert cluster.netns is not None
    done = cluster.netns.run([sys.executable, "-c", _PROBE, host, str(port)])
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _running_on(client: httpx.Client, worker: str) -> list[str] | None:
    found = [w["running_runs"] for w in client.get("/api/workers").json() if w["id"] == worker]
    return found[0] if found else None


def test_namespace_host_sees_only_the_link(ns_cluster: OwnCluster) -> None:
    netns = ns_cluster.netns
    assert netns is not None
    server_port = int(ns_cluster.server.url.rsplit(":", 1)[1])
    # Over the link: the server and the test's Redis answer.
    assert _probe(ns_cluster, netns.host_addr, server_port) == "reachable"
    assert _probe(ns_cluster, netns.host_addr, ns_cluster.own_redis.port) == "reachable"
    # This host's loopback services (the shared Redis, the server on 127.0.0.1) do not.
    assert _probe(ns_cluster, "127.0.0.1", 6379).startswith("unreachable")
    assert _probe(ns_cluster, "127.0.0.1", server_port).startswith("unreachable")
    # The server's folders are hidden from programs in the namespace.
    pipelines = ns_cluster.server.settings.pipelines_dir
    listing = netns.run(["ls", "-A", str(ns_cluster.server_root)], hide=[ns_cluster.server_root])
    assert listing.returncode == 0 and listing.stdout == "", listing
    assert any(pipelines.iterdir())  # ...while they are there for this host


def test_runs_spread_over_a_namespace_worker_and_a_local_one(ns_cluster: OwnCluster) -> None:
    pipelines = ns_cluster.server.settings.pipelines_dir
    (pipelines / "peek.py").write_text(PEEK)
    ns_cluster.worker("near", ready=False)
    ns_cluster.ns_worker("far", ready=False)
    for w in ns_cluster.workers:
        w.wait_ready(ns_cluster.redis, ns_cluster.prefix)
    data = str(ns_cluster.server.settings.data_dir)
    with ns_cluster.server.client() as client:
        ids = [start_run(client, "peek", SERVER_DATA=data) for _ in range(6)]
        runs = [wait_for_run(client, i, timeout=120) for i in ids]
        assert [r["status"] for r in runs] == ["SUCCESS"] * 6, runs
        assert {r["worker"] for r in runs} == {"near", "far"}
        for run in runs:
            events = event_history(client, run["id"])
            assert_exactly_once(events)
            lines = [e["line"] for e in events if e["type"] == "log" and e["stream"] == "stdout"]
            # No run sees the server's data: the near worker's runs are sandboxed, the far
            # worker's machine does not have it.
            assert lines == ["server data visible: False"] + [f"tick {i}" for i in range(15)] + [
                "finished"
            ]


@SQLITE_ONLY
def test_live_sse_and_websocket_of_a_namespace_run_every_line_once(
    ns_cluster: OwnCluster,
) -> None:
    ns_cluster.ns_worker("far")
    token = ns_cluster.server.login()
    with ns_cluster.server.client(token) as client:
        run_id = start_run(client, "sleeper", SECONDS_TO_RUN=3)

        async def both() -> tuple[Received, Received]:
            return await asyncio.gather(
                sse(ns_cluster.server.url, token, run_id, since=0),
                ws(ns_cluster.server.url, token, run_id, since=0),
            )

        over_sse, over_ws = asyncio.run(both())
        run = wait_for_run(client, run_id)
        assert (run["status"], run["worker"]) == ("SUCCESS", "far")
        history = event_history(client, run_id)
    stored = [(e["seq"], e["line"]) for e in history if e["type"] == "log"]
    ticks = [line for _, line in stored if line.startswith("tick ")]
    assert ticks == [f"tick {i}" for i in range(len(ticks))] and len(ticks) >= 20
    for got in (over_sse, over_ws):
        assert got.complete
        # Every line exactly once, in seq order, the same as the log file on the server.
        assert got.lines == stored
        assert not got.of("gap")


@SQLITE_ONLY
def test_cancel_of_a_run_on_the_namespace_worker(ns_cluster: OwnCluster) -> None:
    ns_cluster.ns_worker("far")
    with ns_cluster.server.client() as client:
        run_id = start_run(client, "sleeper", SECONDS_TO_RUN=60)
        _wait_ticks(client, run_id, 3)
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
        run = wait_for_run(client, run_id, timeout=30)
        assert (run["status"], run["worker"]) == ("CANCELLED", "far")
        events = event_history(client, run_id)
        assert_exactly_once(events)
        assert "finished" not in [e.get("line") for e in events]
        assert any("SIGTERM" in e.get("line", "") for e in events)
        # The worker let go of it: its next heartbeat lists no running run.
        deadline = time.monotonic() + 30
        while (running := _running_on(client, "far")) != []:
            assert time.monotonic() < deadline, running
            time.sleep(0.1)


@SQLITE_ONLY
def test_namespace_worker_killed_mid_run_is_lost_then_retried(ns_cluster: OwnCluster) -> None:
    pipelines = ns_cluster.server.settings.pipelines_dir
    write_retried_pipeline(pipelines)
    far = ns_cluster.ns_worker("far", concurrency=1)
    with ns_cluster.server.client() as client:
        run_id = start_run(client, "retried")
        _wait_ticks(client, run_id, 3)
        assert client.get(f"/api/runs/{run_id}").json()["worker"] == "far"
        far.kill9()
        ns_cluster.worker("near", concurrency=1)  # takes the retry
        run = wait_for_run(client, run_id, timeout=60)
        assert (run["status"], run["failure_kind"]) == ("FAILED", "LOST")
        events = event_history(client, run_id)
        assert_exactly_once(events)
        assert "far stopped sending heartbeats" in events[-1]["error"]
        children = client.get("/api/runs", params={"pipeline": "retried"}).json()["items"]
        follow = next(r for r in children if r["parent_run_id"] == run_id)
        done = wait_for_run(client, follow["id"], timeout=60)
        assert (done["status"], done["worker"], done["attempt"]) == ("SUCCESS", "near", 2)
