"""A local run outlives `kill -9` of the server under its supervisor; a new server re-attaches."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, Served, outside_env, wait_for_run

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    pipelines = tmp_path / "pipelines"
    pipelines.mkdir()
    shutil.copy(ROOT / "tests/fixtures/pipelines/sleeper.py", pipelines)
    return outside_env(
        PIPELINES_DIR=str(pipelines),
        DATA_DIR=str(tmp_path / "data"),
        LOGS_DIR=str(tmp_path / "logs"),
        FASTFLOW_ADMIN_USER=ADMIN_USER,
        FASTFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
        FASTFLOW_UI="false",
        FASTFLOW_CANCEL_GRACE_SECONDS="2",
    )


@pytest.fixture
def served(tmp_path: Path, env: dict[str, str]) -> Iterator[list[Served]]:
    started: list[Served] = []
    yield started
    for server in started:
        server.stop()


def _client(server: Served) -> httpx.Client:
    token = httpx.post(
        f"{server.url}/api/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    ).json()["access_token"]
    return httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})


def _start_sleeper(server: Served, tmp_path: Path, seconds: str) -> tuple[str, dict[str, int]]:
    """Start a sleeper run and wait for its process: (run id, supervisor and child pids)."""
    run = (
        _client(server)
        .post("/api/pipelines/sleeper/run", json={"parameters": {"SECONDS_TO_RUN": seconds}})
        .json()
    )
    control = tmp_path / "data" / "runs" / run["id"] / "supervisor"
    deadline = time.monotonic() + 60
    while not (control / "child.pid").exists():
        assert time.monotonic() < deadline, "the run's process never started"
        time.sleep(0.05)
    pids = {
        "supervisor": json.loads((control / "supervisor.json").read_text())["pid"],
        "child": int((control / "child.pid").read_text()),
    }
    return run["id"], pids


def _start_and_crash(
    tmp_path: Path, env: dict[str, str], served: list[Served], seconds: str
) -> tuple[str, dict[str, int]]:
    """Start a sleeper run, wait for its process, kill -9 the server; (run id, its pids)."""
    first = Served(tmp_path, env)
    served.append(first)
    run_id, pids = _start_sleeper(first, tmp_path, seconds)
    first.kill9()
    assert _alive(pids["supervisor"]) and _alive(pids["child"]), "the run died with the server"
    return run_id, pids


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _events(client: httpx.Client, run_id: str) -> list[dict[str, object]]:
    text = client.get(f"/api/runs/{run_id}/events/history").text
    return [json.loads(line) for line in text.splitlines()]


def test_run_that_ends_while_no_server_is_up_is_settled_from_its_supervisor(
    tmp_path: Path, env: dict[str, str], served: list[Served]
) -> None:
    run_id, pids = _start_and_crash(tmp_path, env, served, seconds="2")
    deadline = time.monotonic() + 30
    while _alive(pids["supervisor"]):
        assert time.monotonic() < deadline, "the supervisor did not finish the run"
        time.sleep(0.1)
    second = Served(tmp_path, env)
    served.append(second)
    client = _client(second)
    run = wait_for_run(client, run_id, timeout=30)
    assert (run["status"], run["exit_code"]) == ("SUCCESS", 0), run
    events = _events(client, run_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    lines = [e["line"] for e in events if e.get("stream") == "stdout"]
    assert lines[-1] == "finished"
    assert lines[:-1] == [f"tick {i}" for i in range(len(lines) - 1)]
    assert [e["type"] for e in events].count("complete") == 1


def test_re_attached_run_streams_live_and_can_be_cancelled(
    tmp_path: Path, env: dict[str, str], served: list[Served]
) -> None:
    run_id, pids = _start_and_crash(tmp_path, env, served, seconds="120")
    second = Served(tmp_path, env)
    served.append(second)
    client = _client(second)
    assert client.get(f"/api/runs/{run_id}").json()["status"] == "RUNNING"
    # Lines printed after the restart reach the new server's live viewers.
    seen = len(_events(client, run_id))
    with client.stream("GET", f"/api/runs/{run_id}/events", params={"since": seen}) as r:
        for line in r.iter_lines():
            if line.startswith("data:") and '"tick ' in line:
                break
    assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
    run = wait_for_run(client, run_id, timeout=30)
    assert run["status"] == "CANCELLED", run
    deadline = time.monotonic() + 10
    while _alive(pids["child"]) or _alive(pids["supervisor"]):
        assert time.monotonic() < deadline, "the re-attached run was not stopped"
        time.sleep(0.05)
    events = _events(client, run_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_graceful_stop_keeps_runs_when_asked_and_the_next_server_finishes_them(
    tmp_path: Path, env: dict[str, str], served: list[Served]
) -> None:
    env = {**env, "FASTFLOW_RUNS_ON_SHUTDOWN": "keep"}
    first = Served(tmp_path, env)
    served.append(first)
    run_id, pids = _start_sleeper(first, tmp_path, "3")
    child = pids["child"]
    first.stop()  # SIGTERM: an upgrade, say
    assert first.proc.returncode is not None
    assert _alive(child), "the run was stopped with the server"
    second = Served(tmp_path, env)
    served.append(second)
    client = _client(second)
    done = wait_for_run(client, run_id, timeout=60)
    assert (done["status"], done["exit_code"]) == ("SUCCESS", 0), done
    lines = [e["line"] for e in _events(client, run_id) if e.get("stream") == "stdout"]
    assert lines[-1] == "finished"
    assert lines[:-1] == [f"tick {i}" for i in range(len(lines) - 1)]


def test_graceful_stop_cancels_runs_by_default(
    tmp_path: Path, env: dict[str, str], served: list[Served]
) -> None:
    first = Served(tmp_path, env)
    served.append(first)
    client = _client(first)
    run = client.post(
        "/api/pipelines/sleeper/run", json={"parameters": {"SECONDS_TO_RUN": "60"}}
    ).json()
    wait_for_run(client, run["id"], statuses=["RUNNING"])
    time.sleep(0.5)
    first.stop()
    second = Served(tmp_path, env)
    served.append(second)
    done = _client(second).get(f"/api/runs/{run['id']}").json()
    assert done["status"] == "CANCELLED", done
    assert "shut down" in done["error_message"]
