"""A burst of runs on two real workers, with the workers' hot path on its fast route.

Runs printing thousands of lines go through the workers' fast route (the supervisor's lines
relayed to Redis as the log file's bytes, batched stream entries, shared HTTP client, cached
environment facts) while another run is cancelled and a worker dies under a third: no run
executes twice, no line is lost or repeated, cancel and LOST still work.
"""

from __future__ import annotations

import time

import httpx
import pytest

from fastflow.monitoring.timings import WORKER_STAGES, parse_timings
from tests.distributed.conftest import Cluster
from tests.support.server import assert_exactly_once, event_history, start_run, wait_for_run

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
LINES = 3000
BURST = 16

LOUD = (
    "import os, sys\n"
    "n = int(os.environ['LINES'])\n"
    "for i in range(n):\n"
    "    sys.stdout.write(f'line {i} of run {os.environ[\"FASTFLOW_RUN_ID\"]}\\n')\n"
    "    if i == n // 2:\n"
    "        print('::progress 50 half way', flush=True)\n"
    "print('oops', file=sys.stderr)\n"
)


def _wait_ticks(client: httpx.Client, run_id: str, count: int) -> None:
    deadline = time.monotonic() + 120
    while sum(e.get("line", "").startswith("tick ") for e in event_history(client, run_id)) < count:
        assert time.monotonic() < deadline, f"run {run_id} never ticked"
        time.sleep(0.1)


@SQLITE_ONLY
def test_a_burst_keeps_every_guarantee_on_the_fast_route(cluster: Cluster) -> None:
    (cluster.server.settings.pipelines_dir / "loud.py").write_text(LOUD)
    timings = {"env_extra": {"FASTFLOW_LOG_TIMINGS": "1"}}
    workers = cluster.start_workers(("w1", timings), ("w2", timings))
    with cluster.server.client() as client:
        cancelled = start_run(client, "sleeper", SECONDS_TO_RUN=120)
        doomed_run = start_run(client, "sleeper", SECONDS_TO_RUN=120)
        _wait_ticks(client, cancelled, 2)
        _wait_ticks(client, doomed_run, 2)
        burst = [start_run(client, "loud", LINES=LINES) for _ in range(BURST)]
        assert client.post(f"/api/runs/{cancelled}/cancel").status_code == 200

        runs = {i: wait_for_run(client, i, timeout=300) for i in burst}
        assert {r["status"] for r in runs.values()} == {"SUCCESS"}
        assert {r["worker"] for r in runs.values()} == {"w1", "w2"}
        for run_id, run in runs.items():
            events = event_history(client, run_id)
            assert_exactly_once(events)
            lines = [e["line"] for e in events if e["type"] == "log" and e["stream"] == "stdout"]
            assert lines == [f"line {i} of run {run_id}" for i in range(LINES)]
            assert [e["line"] for e in events if e.get("stream") == "stderr"] == ["oops"]
            assert any(e.get("progress") == 50 for e in events)
            # Executed once, by the worker holding its claim.
            claim = cluster.redis.get(f"{cluster.prefix}:run:{run_id}:claim")
            assert claim == run["worker"].encode()

        stopped = wait_for_run(client, cancelled, timeout=60)
        assert stopped["status"] == "CANCELLED"
        assert_exactly_once(event_history(client, cancelled))

        owner = client.get(f"/api/runs/{doomed_run}").json()["worker"]
        doomed = next(w for w in workers if w.name == owner)
        doomed.kill9()
        lost = wait_for_run(client, doomed_run, timeout=60)
        assert (lost["status"], lost["failure_kind"]) == ("FAILED", "LOST")
        events = event_history(client, doomed_run)
        assert_exactly_once(events)
        assert f"{owner} stopped sending heartbeats" in events[-1]["error"]

    # The fast route was taken: every burst run's lines reached the server through the
    # supervisor's raw line relay (the only place `first_line` is marked), on both workers.
    marks = parse_timings("\n".join(w.output() for w in workers))
    for run_id in burst:
        assert set(WORKER_STAGES) <= set(marks[run_id]), (run_id, marks.get(run_id))
    assert not list(cluster.redis.scan_iter(match=f"{cluster.prefix}:run:*:events"))
