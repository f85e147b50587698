"""Redis crashing and coming back mid-run (a Redis of the test's own, never the shared one).

The outcomes are the ones docs/distributed.md promises: with its data (AOF) nothing is lost;
without it the running run is settled as LOST, queued runs are sent again, nothing is left
RUNNING.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.distributed.conftest import OwnCluster
from tests.distributed.test_celery_runs import _wait_ticks
from tests.support.server import assert_exactly_once, event_history, start_run, wait_for_run

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


def _stdout(client: httpx.Client, run_id: str) -> list[str]:
    events = event_history(client, run_id)
    assert_exactly_once(events)
    return [e["line"] for e in events if e["type"] == "log" and e["stream"] == "stdout"]


@SQLITE_ONLY
def test_redis_restarted_with_its_data_loses_nothing(
    make_own_cluster: Callable[[bool], OwnCluster],
) -> None:
    cluster = make_own_cluster(True)
    cluster.worker("w1", concurrency=1)
    with cluster.server.client() as client:
        run_id = start_run(client, "sleeper", SECONDS_TO_RUN=5)
        _wait_ticks(client, run_id, 5)
        cluster.own_redis.restart()  # kill -9, start again from its append-only file
        run = wait_for_run(client, run_id, timeout=90)
        assert (run["status"], run["worker"]) == ("SUCCESS", "w1")
        lines = _stdout(client, run_id)
        ticks = [line for line in lines if line.startswith("tick ")]
        # Every line the run printed while Redis was down waited in the worker and arrived.
        assert ticks == [f"tick {i}" for i in range(len(ticks))] and len(ticks) >= 40
        assert lines[-1] == "finished"
        # The worker carries on with new runs.
        after = wait_for_run(client, start_run(client, "hello"), timeout=60)
        assert (after["status"], after["worker"]) == ("SUCCESS", "w1")


@SQLITE_ONLY
def test_redis_restarted_without_its_data_settles_the_run_lost(
    make_own_cluster: Callable[[bool], OwnCluster],
) -> None:
    cluster = make_own_cluster(False)
    cluster.worker("w1", concurrency=1)
    with cluster.server.client() as client:
        running = start_run(client, "sleeper", SECONDS_TO_RUN=60)
        _wait_ticks(client, running, 3)
        queued = start_run(client, "hello")  # waits for the busy worker's slot
        time.sleep(0.5)  # let its task message reach Redis (sent within a round)
        cluster.own_redis.restart()  # kill -9 and start empty: claims and queues are gone
        run = wait_for_run(client, running, timeout=60)
        assert (run["status"], run["failure_kind"]) == ("FAILED", "LOST")
        assert "Redis lost the run's state" in run["error_message"]
        _stdout(client, running)  # its log ends with exactly one `complete`
        # The queued run was sent again and runs.
        done = wait_for_run(client, queued, timeout=90)
        assert (done["status"], done["worker"]) == ("SUCCESS", "w1")
        # The worker stopped the lost run (it no longer holds its claim), and nothing is
        # left RUNNING.
        deadline = time.monotonic() + 30
        while True:
            workers = client.get("/api/workers").json()
            if [w["running_runs"] for w in workers] == [[]]:
                break
            assert time.monotonic() < deadline, workers
            time.sleep(0.2)
        listed = client.get("/api/runs").json()["items"]
        assert not [r for r in listed if r["status"] in ("RUNNING", "PENDING")], listed
