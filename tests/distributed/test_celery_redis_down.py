"""Redis unreachable: the server keeps serving, says why, and runs wait as PENDING."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from fastflow.settings import Settings
from tests.support.server import free_port, start_server
from tests.support.workers import celery_overrides


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_unreachable_redis_degrades_health_and_keeps_runs_pending(
    make_settings: Callable[..., Settings],
) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    live = start_server(make_settings(**(celery_overrides() | {"REDIS_URL": nowhere})))
    try:
        with live.client() as client:
            r = client.post("/api/pipelines/hello/run", json={})
            assert r.status_code == 202, r.text
            run_id = r.json()["id"]
            deadline = time.monotonic() + 30
            while (health := client.get("/health").json())["redis"] == "ok":
                assert time.monotonic() < deadline, health
                time.sleep(0.1)
            assert health["status"] == "degraded" and health["database"] == "ok"
            assert health["redis"].startswith("unreachable")
            assert client.get(f"/api/runs/{run_id}").json()["status"] == "PENDING"
            workers = client.get("/api/workers")
            assert workers.status_code == 503 and "redis" in workers.json()["detail"]
            cancelled = client.post(f"/api/runs/{run_id}/cancel")
            assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    finally:
        live.stop()
