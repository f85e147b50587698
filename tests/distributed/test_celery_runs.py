"""Runs on real `fastflow worker` processes: spread, logs exactly once, cancel, routing."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.distributed.conftest import Cluster
from tests.support.server import assert_exactly_once, event_history, start_run, wait_for_run
from tests.support.workers import write_retried_pipeline

# Each of these starts real worker processes; the database is exercised on both engines by
# the spread and server-restart tests, the rest run on SQLite to keep the suite fast.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def test_runs_spread_over_two_workers_with_every_line_once(cluster: Cluster) -> None:
    cluster.start_workers(("w1", {}), ("w2", {}))
    with cluster.server.client() as client:
        ids = [start_run(client, "sleeper", SECONDS_TO_RUN=1.5) for _ in range(4)]
        runs = [wait_for_run(client, i) for i in ids]
        assert [r["status"] for r in runs] == ["SUCCESS"] * 4
        assert {r["worker"] for r in runs} == {"w1", "w2"}
        for run_id in ids:
            events = event_history(client, run_id)
            assert_exactly_once(events)
            lines = [e["line"] for e in events if e["type"] == "log" and e["stream"] == "stdout"]
            ticks = [line for line in lines if line.startswith("tick ")]
            assert ticks == [f"tick {i}" for i in range(len(ticks))] and len(ticks) >= 10
            assert lines[-1] == "finished"
        workers = client.get("/api/workers").json()
        assert sorted(w["id"] for w in workers) == ["w1", "w2"]
        assert all(w["concurrency"] == 2 and w["queues"] == ["fastflow"] for w in workers)
    # Everything persisted was trimmed: no stream is left behind.
    assert not list(cluster.redis.scan_iter(match=f"{cluster.prefix}:run:*:events"))


def _wait_ticks(client: httpx.Client, run_id: str, count: int, timeout: float = 60) -> None:
    """Until the run's log (on the server) holds `count` tick lines: it is really running."""
    deadline = time.monotonic() + timeout
    while True:
        ticks = [e for e in event_history(client, run_id) if e.get("line", "").startswith("tick ")]
        if len(ticks) >= count:
            return
        assert time.monotonic() < deadline, f"run {run_id} printed {len(ticks)} ticks"
        time.sleep(0.1)


@SQLITE_ONLY
def test_cancel_of_a_remote_run_stops_it_on_its_worker(cluster: Cluster) -> None:
    cluster.worker("w1")
    with cluster.server.client() as client:
        run_id = start_run(client, "sleeper", SECONDS_TO_RUN=60)
        _wait_ticks(client, run_id, 3)
        r = client.post(f"/api/runs/{run_id}/cancel")
        assert r.status_code == 200, r.text
        run = wait_for_run(client, run_id, timeout=30)
        assert run["status"] == "CANCELLED"
        events = event_history(client, run_id)
        assert_exactly_once(events)
        assert "finished" not in [e.get("line") for e in events]
        assert any("SIGTERM" in e.get("line", "") for e in events)


@SQLITE_ONLY
def test_pipeline_queue_routes_runs_to_the_workers_of_that_queue(cluster: Cluster) -> None:
    pipelines = cluster.server.settings.pipelines_dir
    (pipelines / "gpu_job.py").write_text("print('on the gpu box')\n")
    (pipelines / "gpu_job.json").write_text('{"queue": "gpu"}')
    cluster.start_workers(("cpu-box", {"concurrency": 1}), ("gpu-box", {"queues": "gpu"}))
    with cluster.server.client() as client:
        ids = [start_run(client, "gpu_job") for _ in range(3)]
        runs = [wait_for_run(client, i) for i in ids]
        assert {(r["status"], r["worker"]) for r in runs} == {("SUCCESS", "gpu-box")}
        plain = wait_for_run(client, start_run(client, "hello"))
        assert (plain["status"], plain["worker"]) == ("SUCCESS", "cpu-box")


@SQLITE_ONLY
def test_worker_killed_mid_run_is_lost_then_retried_on_another(cluster: Cluster) -> None:
    pipelines = cluster.server.settings.pipelines_dir
    write_retried_pipeline(pipelines)
    workers = cluster.start_workers(("a", {"concurrency": 1}), ("b", {"concurrency": 1}))
    with cluster.server.client() as client:
        run_id = start_run(client, "retried")
        _wait_ticks(client, run_id, 3)
        owner = client.get(f"/api/runs/{run_id}").json()["worker"]
        doomed = next(w for w in workers if w.name == owner)
        survivor = next(w for w in workers if w.name != owner)
        doomed.kill9()
        run = wait_for_run(client, run_id, timeout=30)
        assert (run["status"], run["failure_kind"]) == ("FAILED", "LOST")
        events = event_history(client, run_id)
        assert_exactly_once(events)
        assert f"{owner} stopped sending heartbeats" in events[-1]["error"]
        children = client.get("/api/runs", params={"pipeline": "retried"}).json()["items"]
        follow = next(r for r in children if r["parent_run_id"] == run_id)
        done = wait_for_run(client, follow["id"], timeout=60)
        assert (done["status"], done["worker"], done["attempt"]) == ("SUCCESS", survivor.name, 2)
        # The redelivered message of the lost run is never executed again.
        assert cluster.redis.get(f"{cluster.prefix}:run:{run_id}:claim") == owner.encode()


@SQLITE_ONLY
def test_bundles_need_the_worker_token(cluster: Cluster) -> None:
    with cluster.server.client() as client:
        start_run(client, "hello")  # no worker: it stays PENDING, but its bundle is built
        deadline = time.monotonic() + 30
        while not list(cluster.server.settings.bundles_dir.glob("*.tar.gz")):
            assert time.monotonic() < deadline, "no bundle was built"
            time.sleep(0.05)
        bundles = list(cluster.server.settings.bundles_dir.glob("*.tar.gz"))
        assert bundles
        sha = bundles[0].name.removesuffix(".tar.gz")
        # A user's token is not the worker token.
        assert client.get(f"/api/bundles/{sha}").status_code == 401
    worker = {"Authorization": f"Bearer {cluster.server.settings.worker_token}"}
    url = cluster.server.url
    ok = httpx.get(f"{url}/api/bundles/{sha}", headers=worker)
    assert ok.status_code == 200 and ok.content == bundles[0].read_bytes()
    for bad in ("0" * 64, "..%2F..%2Fsecret_key", "nothex"):
        r = httpx.get(f"{url}/api/bundles/{bad}", headers=worker)
        assert r.status_code == 404 and r.json()["detail"]
