"""One contract, both dispatchers: embedded (runs in the server) and Celery (real workers).

The same behaviour is asserted for each, through the API a user has: a run executes once
with every line, a running run is cancelled where it runs, a PENDING one at once, and a
failed run gets its next attempt by the retry policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from fastflow.settings import Settings
from tests.distributed.conftest import Cluster
from tests.support.server import event_history, start_run, start_server, wait_for_run
from tests.support.workers import celery_overrides, clear_prefix

PIPELINES = {
    "dc_ok.py": "for i in range(3):\n    print(f'line {i}', flush=True)\n",
    "dc_sleeps.py": "import time\nprint('started', flush=True)\ntime.sleep(120)\n",
    "dc_fails.py": (
        "import os, sys\n"
        "print('attempt', os.environ['FASTFLOW_ATTEMPT'], flush=True)\n"
        "sys.exit(2 if os.environ['FASTFLOW_ATTEMPT'] == '1' else 0)\n"
    ),
    "dc_fails.json": '{"retries": 1}',
}


@pytest.fixture
def db_url(sqlite_template: Any, tmp_path: Path) -> str:
    """SQLite only: the dispatchers' database side is covered on both engines elsewhere."""
    return str(sqlite_template.clone(tmp_path / "data" / "fastflow.db"))


@pytest.fixture(params=["embedded", "celery"])
def api(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    pipelines_dir: Path,
    tmp_path: Path,
    uv_cache: Path,
) -> Iterator[httpx.Client]:
    """A server dispatching one run at a time (one slot), by each dispatcher."""
    for name, code in PIPELINES.items():
        (pipelines_dir / name).write_text(code)
    if request.param == "embedded":
        live = start_server(make_settings(MAX_CONCURRENT_RUNS=1))
        try:
            with live.client() as client:
                yield client
        finally:
            live.stop()
        return
    redis_client: redis.Redis = request.getfixturevalue("redis_client")
    settings = make_settings(**celery_overrides())
    live = start_server(settings)
    cluster = Cluster(live, redis_client, tmp_path, uv_cache)
    try:
        cluster.worker("w1", concurrency=1)
        with live.client() as client:
            yield client
    finally:
        cluster.close()
        live.stop()
        clear_prefix(redis_client, settings.redis_prefix)


def _wait_status(client: httpx.Client, run_id: str, status: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while client.get(f"/api/runs/{run_id}").json()["status"] != status:
        assert time.monotonic() < deadline, f"run {run_id} never became {status}"
        time.sleep(0.1)


def _wait_line(client: httpx.Client, run_id: str, line: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while line not in client.get(f"/api/runs/{run_id}/logs").text:
        assert time.monotonic() < deadline, f"{line!r} never appeared"
        time.sleep(0.1)


def test_a_run_executes_once_with_every_line(api: httpx.Client) -> None:
    run = wait_for_run(api, start_run(api, "dc_ok"), timeout=120)
    assert run["status"] == "SUCCESS", api.get(f"/api/runs/{run['id']}/logs").text
    events = event_history(api, run["id"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["line"] for e in events if e["type"] == "log"] == ["line 0", "line 1", "line 2"]
    assert [e["type"] for e in events].count("complete") == 1


def test_cancel_stops_a_running_run_and_a_pending_one_at_once(api: httpx.Client) -> None:
    running = start_run(api, "dc_sleeps")
    _wait_line(api, running, "started", timeout=120)
    pending = start_run(api, "dc_ok")  # the one slot is taken: it waits
    time.sleep(1.0)
    assert api.get(f"/api/runs/{pending}").json()["status"] == "PENDING"
    r = api.post(f"/api/runs/{pending}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "CANCELLED", r.text
    assert r.json()["error_message"] == "cancelled before it started"
    assert api.post(f"/api/runs/{running}/cancel").status_code == 200
    _wait_status(api, running, "CANCELLED")
    assert event_history(api, pending)[-1]["status"] == "CANCELLED"


def test_a_failed_run_gets_its_next_attempt(api: httpx.Client) -> None:
    first = wait_for_run(api, start_run(api, "dc_fails"), timeout=120)
    assert first["status"] == "FAILED" and first["exit_code"] == 2
    deadline = time.monotonic() + 120
    while True:
        runs = api.get("/api/runs", params={"pipeline": "dc_fails"}).json()["items"]
        retry = next((r for r in runs if r.get("parent_run_id") == first["id"]), None)
        if retry is not None and retry["status"] == "SUCCESS":
            break
        assert time.monotonic() < deadline, runs
        time.sleep(0.2)
    assert retry["attempt"] == 2 and retry["trigger"] == "retry"
