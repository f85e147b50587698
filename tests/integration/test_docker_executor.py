"""The docker executor against a real engine (Podman's Docker API), through the real HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastflow.events.recorder import RunRecorder
from fastflow.executors.docker import INSTANCE_LABEL, LABEL, DockerExecutor
from fastflow.pipelines.discovery import PipelineCatalog
from fastflow.runs.ports import RunControl, RunSpec
from fastflow.settings import Settings
from tests.support.engine import Engine, find_engine, require_engine
from tests.support.server import LiveServer, start_server, wait_for_run
from tests.support.services import SqliteTemplate


@pytest.fixture
def db_url(sqlite_template: SqliteTemplate, tmp_path: Path) -> str:
    """SQLite only: these tests are about the container engine, and each costs seconds; the
    database side of runs is the same for every executor and covered on both databases."""
    return sqlite_template.clone(tmp_path / "data" / "fastflow.db")


@pytest.fixture(scope="session")
def _engine_lookup() -> Engine | str:
    return find_engine()


@pytest.fixture
def engine(_engine_lookup: Engine | str) -> Engine:
    return require_engine(_engine_lookup)


@pytest.fixture
def docker_settings(make_settings: Callable[..., Settings], engine: Engine) -> Settings:
    return make_settings(
        EXECUTOR="docker",
        DOCKER_HOST=engine.host,
        WORKER_BASE_IMAGE=engine.image,
        FASTFLOW_HEALTH_CHECK_INTERVAL=0.5,
    )


@pytest.fixture
def docker_server(docker_settings: Settings) -> Iterator[LiveServer]:
    live = start_server(docker_settings)
    yield live
    live.stop()


@pytest.fixture
def dclient(docker_server: LiveServer) -> Iterator[httpx.Client]:
    with docker_server.client() as c:
        yield c


def start(client: httpx.Client, pipeline: str, **params: Any) -> str:
    r = client.post(f"/api/pipelines/{pipeline}/run", json={"parameters": params})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def logs(client: httpx.Client, run_id: str) -> str:
    return client.get(f"/api/runs/{run_id}/logs").text


def wait_for_line(client: httpx.Client, run_id: str, text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in logs(client, run_id):
        assert time.monotonic() < deadline, f"{text!r} never appeared"
        time.sleep(0.05)


def test_success_limits_mounts_and_artifacts(
    dclient: httpx.Client, engine: Engine, docker_server: LiveServer
) -> None:
    data = str(docker_server.settings.data_dir)
    run = wait_for_run(
        dclient, start(dclient, "docker_probe", WHO="fastflow", SERVER_DATA=data), timeout=120
    )
    text = logs(dclient, run["id"])
    assert run["status"] == "SUCCESS", text
    assert run["executor"] == "docker" and run["exit_code"] == 0
    assert run["uv_version"] and run["uv_version"][0].isdigit()
    assert run["setup_duration"] is not None and run["setup_duration"] > 0
    out = dict(line.split(" ", 1) for line in text.splitlines())
    assert out["mem_limit"] == str(64 * 1024 * 1024)
    assert out["memsw_limit"] in (str(64 * 1024 * 1024), "0", "max")  # swap = mem, i.e. none
    assert out["cpu_quota"] in ("50000", "50000 100000")
    assert out["in_container"] == "True"
    assert "pipeline_dir read-only" in text
    assert out["artifacts_dir"] == "/artifacts" and out["param"] == "fastflow"
    assert out["leak"] == "False"
    # What the container can reach: no root, no capabilities, no way to gain any, no engine
    # socket, nothing of the server's folders.
    assert out["uid"] != "0"
    assert int(out["cap_eff"], 16) == 0
    assert out["no_new_privs"] == "1"
    assert out["engine_socket"] == "False"
    assert out["server_data"] == "False"
    assert out["net_ifaces"] != "lo"  # the default: a network
    done = dclient.get(f"/api/runs/{run['id']}/events/history").text.splitlines()
    assert json.loads(done[-1])["artifacts"] == ["report.txt"]
    left = engine.client.containers.list(all=True, filters={"label": f"{LABEL}={run['id']}"})
    assert left == []  # removed once exit code and logs were safe


def test_network_false_gives_the_container_no_network(
    dclient: httpx.Client, pipelines_dir: Path
) -> None:
    probe = pipelines_dir / "docker_probe"
    offline = pipelines_dir / "offline_probe"
    offline.mkdir()
    (offline / "main.py").write_text((probe / "main.py").read_text())
    config = json.loads((probe / "pipeline.json").read_text())
    (offline / "pipeline.json").write_text(json.dumps({**config, "network": False}))
    run = wait_for_run(dclient, start(dclient, "offline_probe"), timeout=120)
    text = logs(dclient, run["id"])
    assert run["status"] == "SUCCESS", text
    out = dict(line.split(" ", 1) for line in text.splitlines())
    assert out["net_ifaces"] == "lo"


def test_exit_codes_are_classified(dclient: httpx.Client) -> None:
    failing = wait_for_run(dclient, start(dclient, "failing"), timeout=120)
    assert (failing["status"], failing["exit_code"], failing["failure_kind"]) == (
        "FAILED",
        3,
        "EXIT_NONZERO",
    )
    assert failing["error_message"] == "exited with code 3"
    missing = wait_for_run(dclient, start(dclient, "exit_code", CODE=127), timeout=120)
    assert (missing["exit_code"], missing["failure_kind"]) == (127, "COMMAND_NOT_FOUND")
    assert "command was not found" in missing["error_message"]


def test_oom_under_a_small_limit(dclient: httpx.Client) -> None:
    run = wait_for_run(dclient, start(dclient, "memory_hog"), timeout=120)
    assert (run["status"], run["failure_kind"], run["exit_code"]) == ("FAILED", "OOM", 137)
    assert "out of memory" in run["error_message"]
    assert "allocated 4 GB" not in logs(dclient, run["id"])


def test_cancel_stops_the_container(dclient: httpx.Client) -> None:
    run_id = start(dclient, "ignore_term")
    wait_for_line(dclient, run_id, "started")
    assert dclient.post(f"/api/runs/{run_id}/cancel").status_code == 200
    done = wait_for_run(dclient, run_id)
    assert (done["status"], done["exit_code"]) == ("CANCELLED", 137)
    text = logs(dclient, run_id)
    assert "got SIGTERM, ignoring it" in text and "SIGKILL" in text


def test_timeout_kills_the_container(dclient: httpx.Client) -> None:
    run = wait_for_run(dclient, start(dclient, "slow_timeout"), timeout=120)
    assert run["status"] == "TIMED_OUT"
    assert "timed out after 1s" in run["error_message"]


def test_metrics_samples_with_limits(dclient: httpx.Client) -> None:
    run = wait_for_run(dclient, start(dclient, "busy", SECONDS=4), timeout=120)
    assert run["status"] == "SUCCESS", logs(dclient, run["id"])
    metrics = dclient.get(f"/api/runs/{run['id']}/metrics").json()
    assert len(metrics) >= 2
    assert all(m["cpu_limit"] == 0.5 for m in metrics)
    assert all(m["ram_limit_mb"] and m["ram_mb"] > 0 for m in metrics)
    busiest = max(m["cpu_percent"] for m in metrics)
    # Held near half a core by nano_cpus, measured as % of one core (Docker's own formula
    # reads about 4 times too high on Podman).
    assert 0 < busiest <= 75, metrics
    assert any(m["cpu_soft_limit_exceeded"] and m["soft_limit_exceeded"] for m in metrics)
    live = dclient.get(f"/api/runs/{run['id']}/events/history").text.splitlines()
    assert any(json.loads(e)["type"] == "metrics" for e in live)


def test_uv_cache_is_shared_between_runs(dclient: httpx.Client, docker_settings: Settings) -> None:
    first = wait_for_run(dclient, start(dclient, "with_requirements"), timeout=180)
    assert first["status"] == "SUCCESS", logs(dclient, first["id"])
    # The containers' cache (their own when they run as another user than the server).
    cache = DockerExecutor.from_settings(docker_settings).uv_cache_dir
    assert any(p.name.startswith("tabulate") for p in cache.rglob("tabulate*"))
    second = wait_for_run(dclient, start(dclient, "with_requirements"), timeout=120)
    assert second["status"] == "SUCCESS"
    assert "Downloading" not in logs(dclient, second["id"])  # everything came from the cache


def test_health_check_fails_a_silent_container(dclient: httpx.Client) -> None:
    run_id = start(dclient, "silent")
    wait_for_line(dclient, run_id, "started")
    health = dclient.get(f"/api/runs/{run_id}/health").json()
    assert health["checked"] is True and health["container_status"] == "running"
    done = wait_for_run(dclient, run_id, timeout=60)
    assert (done["status"], done["failure_kind"]) == ("FAILED", "UNHEALTHY")
    assert "no output or progress" in done["error_message"]
    after = dclient.get(f"/api/runs/{run_id}/health").json()
    assert after["checked"] is False and after["reason"] == "the run has finished"
    assert dclient.get("/api/runs/nope/health").status_code == 404


def test_unreachable_engine_is_an_engine_error(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    settings = make_settings(DOCKER_HOST=f"unix://{tmp_path}/no-engine.sock")
    live = start_server(settings)  # starting does not need the engine
    try:
        with live.client() as c:
            run = wait_for_run(c, start(c, "docker_probe"))
            assert (run["status"], run["failure_kind"]) == ("FAILED", "ENGINE_ERROR")
            assert "cannot reach the container engine" in run["error_message"]
            local = wait_for_run(c, start(c, "hello"))  # local runs are unaffected
            assert local["status"] == "SUCCESS"
    finally:
        live.stop()


def test_missing_image_is_an_engine_error(
    make_settings: Callable[..., Settings], engine: Engine
) -> None:
    settings = make_settings(
        EXECUTOR="docker", DOCKER_HOST=engine.host, WORKER_BASE_IMAGE="fastflow-no-such:image"
    )
    live = start_server(settings)
    try:
        with live.client() as c:
            run = wait_for_run(c, start(c, "hello"), timeout=60)
            assert (run["status"], run["failure_kind"]) == ("FAILED", "ENGINE_ERROR")
            assert "fastflow-no-such:image" in run["error_message"]
    finally:
        live.stop()


def test_command_missing_in_the_image(settings: Settings, engine: Engine, tmp_path: Path) -> None:
    """Podman refuses to start a missing command (no exit 127): still COMMAND_NOT_FOUND."""
    executor = DockerExecutor(
        image=engine.image,
        uv_cache_dir=settings.resolved_uv_cache_dir,
        base_url=engine.host,
        uv_command="/no/such/uv",
    )
    pipeline = PipelineCatalog(settings.pipelines_dir).get("hello")
    spec = RunSpec(
        run_id="cmdmissing" + str(time.monotonic_ns())[-8:],
        pipeline=pipeline,
        env={},
        work_dir=tmp_path / "work",
        artifacts_dir=tmp_path / "artifacts",
        metrics_path=tmp_path / "metrics.jsonl",
    )
    recorder = RunRecorder(spec.run_id, tmp_path / "run.log")
    result = asyncio.run(executor.execute(spec, recorder, RunControl()))
    recorder.close()
    assert (result.exit_code, result.failure_kind) == (127, "COMMAND_NOT_FOUND")
    assert "could not start" in (result.error or "")
    left = engine.client.containers.list(all=True, filters={"label": f"{LABEL}={spec.run_id}"})
    assert left == []


def test_cleanup_removes_leftover_containers_of_finished_runs_only(
    docker_server: LiveServer, engine: Engine
) -> None:
    from fastflow.records import Run

    services = docker_server.services
    finished = Run(pipeline_name="hello", status="SUCCESS", executor="docker")
    running = Run(pipeline_name="hello", status="RUNNING", executor="docker")
    for run in (finished, running):
        services.runs.create(run)
    gone = "0" * 32  # a run the database no longer knows
    made = {}
    # Containers of this server carry its instance id (the sweep takes no others).
    instance = (docker_server.settings.data_dir / "instance_id").read_text().strip()
    for run_id in (finished.id, running.id, gone):
        c = engine.client.containers.create(
            engine.image, ["true"], labels={LABEL: run_id, INSTANCE_LABEL: instance}
        )
        made[run_id] = c.name
    try:
        # Other tests' leftovers may be swept too: check ours, not the whole list.
        dry = services.cleanup.run_once(dry_run=True)
        assert {made[finished.id], made[gone]} <= set(dry.containers)
        assert made[running.id] not in dry.containers
        assert made[finished.id] in {
            c.name for c in engine.client.containers.list(all=True)
        }  # a dry run removes nothing
        report = services.cleanup.run_once()
        assert {made[finished.id], made[gone]} <= set(report.containers)
        assert made[running.id] not in report.containers
        left = {
            c.name
            for c in engine.client.containers.list(all=True, filters={"label": "fastflow-run-id"})
        }
        assert made[running.id] in left  # an active run's container is never touched
        assert made[finished.id] not in left and made[gone] not in left
    finally:
        for name in made.values():
            with contextlib.suppress(Exception):
                engine.client.containers.get(name).remove(force=True)


def test_the_sweep_removes_only_this_servers_containers(
    docker_server: LiveServer, engine: Engine
) -> None:
    instance = (docker_server.settings.data_dir / "instance_id").read_text().strip()
    made = []
    try:
        for owner in (instance, "another-server"):
            made.append(
                engine.client.containers.create(
                    engine.image,
                    ["true"],
                    labels={LABEL: f"gone-run-of-{owner}", INSTANCE_LABEL: owner},
                )
            )
        report = docker_server.services.cleanup.run_once()
        left = {c.id for c in engine.client.containers.list(all=True, sparse=True)}
        assert made[0].id not in left  # this server's, its run gone: swept
        assert made[1].id in left  # another server's: not this server's to judge
        assert report.containers == [made[0].name]
    finally:
        for container in made:
            with contextlib.suppress(Exception):
                container.remove(force=True)
