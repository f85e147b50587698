"""Local runs under their per-run supervisor process: what it holds, and what if it dies."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from fastflow.settings import Settings
from tests.support.server import LiveServer, start_server, wait_for_run


def _supervisor_dir(server: LiveServer, run_id: str) -> Path:
    return server.settings.work_dir / run_id / "supervisor"


def _wait_for(predicate: object, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _wait_started(control: Path) -> None:
    """Until the run's process and its supervisor's record are both there (the record is
    written beside the run's start, not necessarily before it)."""
    _wait_for(
        lambda: (control / "child.pid").exists() and (control / "supervisor.json").exists(),
        "the run's process to start",
    )


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_run_is_supervised_by_its_own_process(server: LiveServer, client: httpx.Client) -> None:
    run = client.post(
        "/api/pipelines/sleeper/run", json={"parameters": {"SECONDS_TO_RUN": "30"}}
    ).json()
    control = _supervisor_dir(server, run["id"])
    _wait_started(control)
    info = json.loads((control / "supervisor.json").read_text())
    supervisor = psutil.Process(info["pid"])
    child = int((control / "child.pid").read_text())
    assert supervisor.pid != os.getpid()
    # Started by the supervisor, or forked for it by the pipeline's warm interpreter.
    warm = {p["pid"] for p in server.services.warm.processes()}
    assert psutil.Process(child).ppid() in {supervisor.pid, *warm}
    # Its own session: a signal to the server's process group does not reach it.
    assert os.getsid(supervisor.pid) == supervisor.pid
    # The run's pid (what recovery stops if everything died) is the pipeline's, not its
    # supervisor's.
    _wait_for(lambda: server.services.runs.get(run["id"]).pid == child, "the pid to be recorded")
    assert client.post(f"/api/runs/{run['id']}/cancel").status_code == 200
    done = wait_for_run(client, run["id"])
    assert done["status"] == "CANCELLED"
    _wait_for(lambda: not _alive(supervisor.pid), "the supervisor to exit")
    assert not _alive(child)


def test_supervisor_killed_mid_run_fails_the_run_as_lost_and_stops_it(
    server: LiveServer, client: httpx.Client
) -> None:
    run = client.post(
        "/api/pipelines/sleeper/run", json={"parameters": {"SECONDS_TO_RUN": "60"}}
    ).json()
    control = _supervisor_dir(server, run["id"])
    _wait_started(control)
    child = int((control / "child.pid").read_text())
    supervisor = json.loads((control / "supervisor.json").read_text())["pid"]
    os.kill(supervisor, signal.SIGKILL)
    done = wait_for_run(client, run["id"])
    assert (done["status"], done["failure_kind"]) == ("FAILED", "LOST")
    assert "supervisor process ended unexpectedly" in done["error_message"]
    _wait_for(lambda: not _alive(child), "the orphaned run process to be stopped", 10)
    events = [
        json.loads(line)
        for line in client.get(f"/api/runs/{run['id']}/events/history").text.splitlines()
    ]
    # The server took the log back after the supervisor: numbering continues without a hole.
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "complete"


@pytest.fixture
def cold_client(make_settings: Callable[..., Settings]) -> Iterator[httpx.Client]:
    """A server whose runs start cold: /proc shows a run's environment as it started (a
    warm run's is its warm interpreter's, which holds no run's secrets)."""
    live = start_server(make_settings(FASTFLOW_WARM_START="off"))
    try:
        with live.client() as c:
            yield c
    finally:
        live.stop()


def test_secrets_reach_the_run_but_not_the_supervisors_environment_or_disk(
    cold_client: httpx.Client, settings: Settings
) -> None:
    client = cold_client
    secret = "s3cr3t-value-for-the-supervisor-test"
    r = client.post("/api/secrets", json={"key": "API_KEY", "value": secret, "is_secret": True})
    assert r.status_code == 201, r.text
    run = client.post(
        "/api/pipelines/sleeper/run", json={"parameters": {"SECONDS_TO_RUN": "30"}}
    ).json()
    control = settings.work_dir / run["id"] / "supervisor"
    _wait_started(control)
    supervisor = json.loads((control / "supervisor.json").read_text())["pid"]
    child = int((control / "child.pid").read_text())
    assert secret.encode() in Path(f"/proc/{child}/environ").read_bytes()
    supervisor_env = Path(f"/proc/{supervisor}/environ").read_bytes()
    assert secret.encode() not in supervisor_env
    assert b"DATABASE_URL" not in supervisor_env
    for path in control.iterdir():
        assert secret.encode() not in path.read_bytes(), path
    client.post(f"/api/runs/{run['id']}/cancel")
    wait_for_run(client, run["id"])


def test_supervisors_are_forked_by_a_launcher_that_comes_back_when_killed(
    server: LiveServer, client: httpx.Client
) -> None:
    def launcher_of(run_id: str) -> psutil.Process:
        control = _supervisor_dir(server, run_id)
        _wait_for(lambda: (control / "supervisor.json").exists(), "the supervisor to start")
        supervisor = psutil.Process(json.loads((control / "supervisor.json").read_text())["pid"])
        parent = supervisor.parent()
        assert parent is not None
        return parent

    first = client.post(
        "/api/pipelines/sleeper/run", json={"parameters": {"SECONDS_TO_RUN": "30"}}
    ).json()
    launcher = launcher_of(first["id"])
    assert "fastflow.executors.launcher" in " ".join(launcher.cmdline())
    launcher.kill()
    launcher.wait(10)
    # The run it forked is not its child to lose: it goes on, and the next run gets a new one.
    second = client.post("/api/pipelines/hello/run", json={}).json()
    assert wait_for_run(client, second["id"])["status"] == "SUCCESS"
    assert client.get(f"/api/runs/{first['id']}").json()["status"] == "RUNNING"
    client.post(f"/api/runs/{first['id']}/cancel")
    assert wait_for_run(client, first["id"])["status"] == "CANCELLED"
