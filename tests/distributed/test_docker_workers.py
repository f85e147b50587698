"""The docker executor on real `fastflow worker` processes, against the real container engine.

A remote docker run mounts the bundle from the worker's cache into a container of the
worker's engine; its lines reach the server's log once, its secrets are masked, cancel and
timeout stop and remove its container, and the container of a `kill -9`'d worker is removed
by the next worker that starts.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from docker.errors import NotFound

from tests.distributed.conftest import Cluster
from tests.integration.test_secrets import SECRET, _store
from tests.support.engine import Engine, find_engine, require_engine
from tests.support.server import assert_exactly_once, event_history, start_run, wait_for_run

# Containers and worker processes cost seconds each; the database side of remote runs is
# covered on both databases by the other distributed tests.
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)

BOX = """\
import os, sys
from pathlib import Path

print("in_container", Path("/run/.containerenv").exists() or Path("/.dockerenv").exists())
for i in range(30):
    print(f"line {i}", flush=True)
print("secret: " + os.environ["API_KEY"], flush=True)
print("warned", file=sys.stderr, flush=True)
print("sees the server's data", Path(os.environ["SERVER_DATA"]).exists())
print("cwd", os.getcwd())
Path(os.environ["FASTFLOW_ARTIFACTS_DIR"], "out.txt").write_text("made in a container")
"""


@pytest.fixture(scope="session")
def _engine_lookup() -> Engine | str:
    return find_engine()


@pytest.fixture
def engine(_engine_lookup: Engine | str, cluster: Cluster) -> Iterator[Engine]:
    found = require_engine(_engine_lookup)
    yield found
    # A failed test must not leave its containers running on the shared engine.
    label = f"fastflow-redis-prefix={cluster.prefix}"
    for box in found.client.containers.list(all=True, sparse=True, filters={"label": label}):
        with contextlib.suppress(NotFound):
            box.remove(force=True)


def _docker_env(engine: Engine, **extra: str) -> dict[str, str]:
    return {
        "DOCKER_HOST": engine.host,
        "WORKER_BASE_IMAGE": engine.image,
        "FASTFLOW_HEALTH_CHECK_INTERVAL": "0.5",
        **extra,
    }


def _containers(engine: Engine, run_id: str) -> list[dict[str, Any]]:
    """The run's containers as listed (sparse: no inspect that a removal meanwhile fails)."""
    label = f"fastflow-run-id={run_id}"
    found = engine.client.containers.list(all=True, sparse=True, filters={"label": label})
    return [c.attrs for c in found]


def _wait_for(what: str, check: Any, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"{what}: not within {timeout}s"
        time.sleep(0.1)
    return found


def _logs(client: httpx.Client, run_id: str) -> str:
    return client.get(f"/api/runs/{run_id}/logs").text


def test_docker_pipeline_runs_on_a_worker_with_every_line_once(
    cluster: Cluster, engine: Engine
) -> None:
    pipelines = cluster.server.settings.pipelines_dir
    (pipelines / "remote_box.py").write_text(BOX)
    (pipelines / "remote_box.json").write_text('{"executor": "docker", "mem_hard_limit": "128m"}')
    cluster.worker("dw1", env_extra=_docker_env(engine))
    with cluster.server.client() as client:
        _store(client)
        server_data = str(cluster.server.settings.data_dir)
        run_id = start_run(client, "remote_box", SERVER_DATA=server_data)
        run = wait_for_run(client, run_id, timeout=180)
        assert (run["status"], run["worker"], run["executor"]) == ("SUCCESS", "dw1", "docker")
        assert run["exit_code"] == 0, run
        events = event_history(client, run_id)
        assert_exactly_once(events)
        stdout = [e["line"] for e in events if e["type"] == "log" and e["stream"] == "stdout"]
        assert stdout == [
            "in_container True",
            *[f"line {i}" for i in range(30)],
            "secret: ***",
            "sees the server's data False",
            "cwd /work",
        ]
        stderr = [e["line"] for e in events if e["type"] == "log" and e["stream"] == "stderr"]
        assert "warned" in stderr
        assert SECRET not in _logs(client, run_id)
        assert events[-1]["artifacts"] == ["out.txt"]
        note = client.get(f"/api/runs/{run_id}/artifacts/out.txt")
        assert (note.status_code, note.text) == (200, "made in a container")
    # Exit code and output recorded: the container is gone.
    assert _containers(engine, run_id) == []


def test_cancel_and_timeout_of_remote_docker_runs_remove_their_containers(
    cluster: Cluster, engine: Engine
) -> None:
    # No `executor` in these pipelines' json: the worker's own EXECUTOR=docker decides.
    cluster.worker("dw2", env_extra=_docker_env(engine, EXECUTOR="docker"))
    with cluster.server.client() as client:
        run_id = start_run(client, "ignore_term")
        _wait_for("started", lambda: "started" in _logs(client, run_id))
        (box,) = _containers(engine, run_id)
        assert box["Labels"]["fastflow-worker"] == "dw2" and box["State"] == "running"
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
        run = wait_for_run(client, run_id, timeout=60)
        assert (run["status"], run["exit_code"]) == ("CANCELLED", 137)
        text = _logs(client, run_id)
        assert "executor docker (this worker's EXECUTOR), not local" in text
        assert run["executor"] == "docker"  # the run records what really ran it
        assert "got SIGTERM, ignoring it" in text and "SIGKILL after 2s" in text
        assert_exactly_once(event_history(client, run_id))
        assert _containers(engine, run_id) == []

        timed = wait_for_run(client, start_run(client, "slow_timeout"), timeout=120)
        assert timed["status"] == "TIMED_OUT", timed
        assert "timed out after 1s" in timed["error_message"]
        assert "killing the container (timeout of 1s)" in _logs(client, timed["id"])
        assert _containers(engine, timed["id"]) == []


def test_container_of_a_killed_worker_is_removed_by_the_next_worker(
    cluster: Cluster, engine: Engine
) -> None:
    doomed = cluster.worker("dw3", env_extra=_docker_env(engine, EXECUTOR="docker"))
    with cluster.server.client() as client:
        run_id = start_run(client, "ignore_term")
        _wait_for("started", lambda: "started" in _logs(client, run_id))
        doomed.kill9()
        run = wait_for_run(client, run_id, timeout=60)
        assert (run["status"], run["failure_kind"]) == ("FAILED", "LOST")
        # Nobody supervises it now, and the engine keeps it running.
        (box,) = _containers(engine, run_id)
        assert box["State"] == "running"
        cluster.worker("dw4", env_extra=_docker_env(engine))
        _wait_for("container removed", lambda: _containers(engine, run_id) == [], timeout=60)
        assert "removing container fastflow-" + run_id in cluster.workers[-1].output()
