"""Concurrency limit, queueing, refusal when full, and runs surviving a server restart."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from fastflow.models import RunStatus
from fastflow.records import Run, utcnow
from fastflow.settings import Settings
from fastflow.storage.database import Database
from fastflow.storage.run_store import RunStore
from tests.support.server import start_run, start_server, wait_for_run


def _max_overlap(runs: list[dict[str, Any]]) -> int:
    points = []
    for r in runs:
        points.append((datetime.fromisoformat(r["started_at"]), 1))
        points.append((datetime.fromisoformat(r["finished_at"]), -1))
    current = best = 0
    for _, delta in sorted(points, key=lambda p: (p[0], p[1])):
        current += delta
        best = max(best, current)
    return best


def test_concurrency_limit_queues_runs(make_settings: Callable[..., Settings]) -> None:
    live = start_server(make_settings(MAX_CONCURRENT_RUNS=2))
    try:
        with live.client() as client:
            ids = [start_run(client, "sleeper", SECONDS_TO_RUN=0.6) for _ in range(5)]
            pending = client.get("/api/runs", params={"status": "PENDING"}).json()["total"]
            assert pending >= 2  # 5 accepted at once, only 2 slots
            runs = [wait_for_run(client, i) for i in ids]
        assert all(r["status"] == "SUCCESS" for r in runs)
        assert _max_overlap(runs) == 2
        # Oldest first: runs start in the order they were accepted.
        starts = [r["started_at"] for r in runs]
        assert starts == sorted(starts)
    finally:
        live.stop()


def test_full_queue_answers_429_when_configured(make_settings: Callable[..., Settings]) -> None:
    live = start_server(make_settings(MAX_CONCURRENT_RUNS=1, QUEUE_FULL_POLICY="reject"))
    try:
        with live.client() as client:
            first = start_run(client, "sleeper", SECONDS_TO_RUN=5)
            r = client.post("/api/pipelines/hello/run", json={})
            assert r.status_code == 429
            assert "run slots are busy" in r.json()["detail"]
            client.post(f"/api/runs/{first}/cancel").raise_for_status()
            assert wait_for_run(client, first)["status"] == "CANCELLED"
            assert client.post("/api/pipelines/hello/run", json={}).status_code == 202
    finally:
        live.stop()


def test_pending_runs_survive_a_restart(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(MAX_CONCURRENT_RUNS=1)
    live = start_server(settings)
    with live.client() as client:
        blocker = start_run(client, "sleeper", SECONDS_TO_RUN=30)
        waiting = [start_run(client, "hello", NAME=f"n{i}") for i in range(2)]
        wait_for_run(client, blocker, statuses=["RUNNING"])
    live.stop()  # a graceful stop cancels what runs; PENDING runs stay queued

    live = start_server(settings)
    try:
        with live.client() as client:
            stopped = client.get(f"/api/runs/{blocker}").json()
            assert stopped["status"] == "CANCELLED"
            assert "server shut down" in stopped["error_message"]
            for run_id in waiting:
                assert wait_for_run(client, run_id)["status"] == "SUCCESS"
    finally:
        live.stop()


def test_cancel_pending_run(make_settings: Callable[..., Settings]) -> None:
    live = start_server(make_settings(MAX_CONCURRENT_RUNS=1))
    try:
        with live.client() as client:
            blocker = start_run(client, "sleeper", SECONDS_TO_RUN=30)
            queued = start_run(client, "hello")
            r = client.post(f"/api/runs/{queued}/cancel")
            assert r.status_code == 200 and r.json()["status"] == "CANCELLED"
            client.post(f"/api/runs/{blocker}/cancel").raise_for_status()
            wait_for_run(client, blocker)
            events = client.get(f"/api/runs/{queued}/events/history").text
            assert '"type":"complete"' in events
            assert client.get(f"/api/runs/{queued}").json()["started_at"] is None
    finally:
        live.stop()


def test_a_claim_takes_the_oldest_pending_runs_and_finish_counts_once(
    make_settings: Callable[..., Settings],
) -> None:
    db = Database(make_settings().sqlalchemy_url)
    try:
        store = RunStore(db)
        now = utcnow()
        runs = [
            store.create(Run(pipeline_name="hello", created_at=now + timedelta(seconds=s)))
            for s in (2, 0, 1, 3)
        ]
        assert store.cancel_pending(runs[1].id)  # the oldest, but no longer PENDING
        claimed = store.claim_pending(2, "here")
        assert [r.id for r in claimed] == [runs[2].id, runs[0].id]  # oldest first
        for run in claimed:
            assert (run.status, run.worker, run.progress) == ("RUNNING", "here", 0)
            assert run.started_at is not None
        assert [r.id for r in store.claim_pending(5, "there")] == [runs[3].id]
        assert store.claim_pending(5, "there") == []
        finished = store.finish(runs[2].id, RunStatus.SUCCESS, exit_code=0)
        assert finished is not None
        assert (finished.status, finished.exit_code, finished.id) == ("SUCCESS", 0, runs[2].id)
        assert finished.finished_at is not None
        assert store.finish(runs[2].id, RunStatus.FAILED) is None  # settled already
        assert store.get(runs[2].id).status == "SUCCESS"
    finally:
        db.dispose()
