"""Runs on `fastflow worker` are sandboxed as on the server: the worker's token and files are
out of reach, nothing a run starts outlives it, and a run stops when its worker dies."""

from __future__ import annotations

import json
import time

import pytest

from fastflow.sandbox.landlock import abi_version
from tests.distributed.conftest import Cluster
from tests.support.intruder import wait_gone, write_intruder
from tests.support.server import assert_exactly_once, event_history, start_run, wait_for_run
from tests.support.services import service_missing

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
ABI, WHY_NOT = abi_version()


@pytest.fixture(autouse=True)
def _needs_landlock() -> None:
    if ABI == 0:
        service_missing("Landlock", WHY_NOT)


def _report(client: object, run_id: str) -> dict[str, object]:
    events = event_history(client, run_id)  # type: ignore[arg-type]
    lines = [e["line"] for e in events if e["type"] == "log" and e["line"].startswith("REPORT ")]
    assert lines, events
    return dict(json.loads(lines[0][len("REPORT ") :]))


@SQLITE_ONLY
def test_a_worker_run_cannot_reach_the_worker_and_leaves_nothing_behind(
    cluster: Cluster,
) -> None:
    write_intruder(cluster.server.settings.pipelines_dir)
    worker = cluster.worker("w1", concurrency=1)
    data = cluster.tmp / "w1" / "data"
    with cluster.server.client() as client:
        info = client.get("/api/workers").json()
        assert info[0]["sandbox"]["sandboxed"] is True, info
        # The worker's environment holds its worker token; its folder its runs' files.
        environ = f"/proc/{worker.proc.pid}/environ"
        with open(environ, "rb") as f:
            assert f.read(1)  # readable by us: a denial is the sandbox's
        probe = {"read": [environ, str(cluster.tmp / "w1" / "worker.log")], "daemon": True}
        probe["list"] = [str(data), str(data / "runs")]
        r = client.post(
            "/api/pipelines/intruder/run", json={"parameters": {"PROBE": json.dumps(probe)}}
        )
        run = wait_for_run(client, r.json()["id"], timeout=180)
        assert (run["exit_code"], run["worker"]) == (7, "w1"), run
        assert_exactly_once(event_history(client, run["id"]))
        report = _report(client, run["id"])
        assert {p: v for p, v in report["read"].items() if v == "ok"} == {}  # type: ignore[union-attr]
        assert all(v != "ok" for v in report["list"].values())  # type: ignore[union-attr]
        assert report["imported"] == "tabulate"
        wait_gone(int(report["daemon_pid"]), "a worker run's daemon outlived the run")  # type: ignore[call-overload]
        names = [a["path"] for a in client.get(f"/api/runs/{run['id']}/artifacts").json()]
        assert names == ["result.txt"]


@SQLITE_ONLY
def test_a_worker_run_stops_when_its_worker_dies(cluster: Cluster) -> None:
    write_intruder(cluster.server.settings.pipelines_dir)
    doomed = cluster.worker("doomed", concurrency=1)
    with cluster.server.client() as client:
        probe = json.dumps({"daemon": True, "sleep": 120})
        run_id = start_run(client, "intruder", PROBE=probe)
        deadline = time.monotonic() + 120
        while not any("REPORT " in e.get("line", "") for e in event_history(client, run_id)):
            assert time.monotonic() < deadline, "the run never reported"
            time.sleep(0.1)
        report = _report(client, run_id)
        doomed.kill9()
        run = wait_for_run(client, run_id, timeout=60)
        assert (run["status"], run["failure_kind"]) == ("FAILED", "LOST")
        # Its process tree went with it: nothing runs on for a worker that is gone.
        wait_gone(int(report["daemon_pid"]), "the run's daemon outlived its worker")  # type: ignore[call-overload]
        wait_gone(int(report["parent"]), "the run's supervisor outlived its worker")  # type: ignore[call-overload]
