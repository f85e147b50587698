"""Runs on real `fastflow worker` processes: spread, logs exactly once, cancel, routing."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from tests.distributed.conftest import Cluster
from tests.support.server import wait_for_run


def _run(client: httpx.Client, name: str, **params: Any) -> str:
    r = client.post(f"/api/pipelines/{name}/run", json={"parameters": params})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _history(client: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/runs/{run_id}/events/history")
    assert r.status_code == 200, r.text
    return [orjson.loads(line) for line in r.content.splitlines() if line.strip()]


def _assert_exactly_once(events: list[dict[str, Any]]) -> None:
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert [e["type"] for e in events].count("complete") == 1
    assert events[-1]["type"] == "complete"


def test_runs_spread_over_two_workers_with_every_line_once(cluster: Cluster) -> None:
    cluster.worker("w1", concurrency=2)
    cluster.worker("w2", concurrency=2)
    with cluster.server.client() as client:
        ids = [_run(client, "sleeper", SECONDS_TO_RUN=1.5) for _ in range(4)]
        runs = [wait_for_run(client, i) for i in ids]
        assert [r["status"] for r in runs] == ["SUCCESS"] * 4
        assert {r["worker"] for r in runs} == {"w1", "w2"}
        for run_id in ids:
            events = _history(client, run_id)
            _assert_exactly_once(events)
            lines = [e["line"] for e in events if e["type"] == "log" and e["stream"] == "stdout"]
            ticks = [line for line in lines if line.startswith("tick ")]
            assert ticks == [f"tick {i}" for i in range(len(ticks))] and len(ticks) >= 10
            assert lines[-1] == "finished"
        workers = client.get("/api/workers").json()
        assert sorted(w["id"] for w in workers) == ["w1", "w2"]
        assert all(w["concurrency"] == 2 and w["queues"] == ["fastflow"] for w in workers)
    # Everything persisted was trimmed: no stream is left behind.
    assert not list(cluster.redis.scan_iter(match=f"{cluster.prefix}:run:*:events"))
