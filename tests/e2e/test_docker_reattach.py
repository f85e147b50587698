"""Crash test: `kill -9` the server while containers run, start it again, and check that the
runs were re-attached with complete logs (every line once), and settled correctly."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastflow.executors.docker import LABEL
from tests.support.engine import Engine, find_engine, require_engine
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, free_port, wait_for_run

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "pipelines"


class ServerProcess:
    """`python -m fastflow serve` as its own process, so it can be killed for real."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env = env
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> None:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        out = open(self.log, "ab")  # noqa: SIM115  (the child owns it)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fastflow", "serve", "--port", str(port)],
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.2)

    def kill9(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def client(self) -> httpx.Client:
        r = httpx.post(
            f"{self.url}/api/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        )
        token = r.raise_for_status().json()["access_token"]
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


@pytest.fixture
def engine() -> Engine:
    return require_engine(find_engine())


@pytest.fixture
def server(tmp_path: Path, uv_cache: Path, engine: Engine) -> Iterator[ServerProcess]:
    pipelines = tmp_path / "pipelines"
    shutil.copytree(FIXTURES, pipelines)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTFLOW_", "DATABASE"))}
    env.update(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'fastflow.db'}",
            "PIPELINES_DIR": str(pipelines),
            "DATA_DIR": str(tmp_path / "data"),
            "LOGS_DIR": str(tmp_path / "logs"),
            "UV_CACHE_DIR": str(uv_cache),
            "FASTFLOW_ADMIN_USER": ADMIN_USER,
            "FASTFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "FASTFLOW_SECRET_KEY": "crash-test-key-" + "x" * 32,
            "EXECUTOR": "docker",
            "DOCKER_HOST": engine.host,
            "WORKER_BASE_IMAGE": engine.image,
            "FASTFLOW_HEALTH_CHECK_INTERVAL": "1",
        }
    )
    proc = ServerProcess(env, tmp_path / "server.log")
    yield proc
    proc.stop()


def _events(client: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    text = client.get(f"/api/runs/{run_id}/events/history").text
    return [json.loads(line) for line in text.splitlines()]


def _start(client: httpx.Client, **params: Any) -> str:
    r = client.post("/api/pipelines/ticker/run", json={"parameters": params})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def _wait_for(client: httpx.Client, run_id: str, line: str) -> None:
    deadline = time.monotonic() + 60
    while line not in client.get(f"/api/runs/{run_id}/logs").text.splitlines():
        assert time.monotonic() < deadline, f"{line!r} never appeared"
        time.sleep(0.05)


def test_kill9_restart_reattaches_with_complete_logs(server: ServerProcess, engine: Engine) -> None:
    try:
        _crash_and_restart(server, engine)
    except (httpx.HTTPError, AssertionError) as exc:
        code = server.proc.poll() if server.proc else None
        tail = "\n".join(
            line
            for line in server.log.read_text(errors="replace").splitlines()
            if "GET /api" not in line
        )[-4000:]
        raise AssertionError(f"{exc!r}; server exit code {code}; its log:\n{tail}") from exc


def _crash_and_restart(server: ServerProcess, engine: Engine) -> None:
    server.start()
    with server.client() as c:
        long = _start(c, COUNT=80, INTERVAL=0.1)  # still running after the restart
        short = _start(c, COUNT=25, INTERVAL=0.1)  # ends while the server is down
        gone = _start(c, COUNT=3000, INTERVAL=0.1)  # its container is removed while down
        for run_id in (long, short, gone):
            _wait_for(c, run_id, "tick 5")
    server.kill9()
    for container in engine.client.containers.list(filters={"label": f"{LABEL}={gone}"}):
        container.remove(force=True)
    time.sleep(3)  # lines printed now must come back from the engine's log

    server.start()
    with server.client() as c:
        for run_id, count in ((long, 80), (short, 25)):
            run = wait_for_run(c, run_id, timeout=90)
            assert (run["status"], run["exit_code"]) == ("SUCCESS", 0), run
            # Known after the re-attach too (kept in the container's labels).
            assert run["uv_version"] and run["uv_version"][0].isdigit(), run
            events = _events(c, run_id)
            assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
            lines = [e["line"] for e in events if e["type"] == "log" and e["stream"] == "stdout"]
            assert lines == [f"tick {i}" for i in range(count)] + ["ticker done"]
            errs = [e["line"] for e in events if e["type"] == "log" and e["stream"] == "stderr"]
            assert errs == [f"err {i}" for i in range(0, count, 10)]
            progress = [e["progress"] for e in events if e["type"] == "status" and "cpos" in e]
            assert progress == [i * 100 // count for i in range(0, count, 10)]
            assert any("re-attached to container" in e.get("line", "") for e in events)
            assert [e["type"] for e in events].count("complete") == 1
        lost = wait_for_run(c, gone, timeout=30)
        assert (lost["status"], lost["failure_kind"]) == ("FAILED", "LOST")
        assert "container was not found" in lost["error_message"]
        left = engine.client.containers.list(all=True, filters={"label": f"{LABEL}={long}"})
        assert left == []
