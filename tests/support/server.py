"""A real fastflow server (uvicorn on a free port, in a thread) and an HTTP client for it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import orjson
import uvicorn

from fastflow.server import create_app
from fastflow.settings import Settings

ADMIN_USER = "admin"
ADMIN_PASSWORD = "test-admin-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    settings: Settings
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def services(self) -> Any:
        return self.server.config.app.state.services  # type: ignore[union-attr]

    def login(self, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD) -> str:
        r = httpx.post(
            f"{self.url}/api/auth/login", json={"username": username, "password": password}
        )
        r.raise_for_status()
        return str(r.json()["access_token"])

    def client(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token or self.login()}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)


def start_server(
    settings: Settings, host: str = "127.0.0.1", services: Any = None, port: int | None = None
) -> LiveServer:
    """Start the app under uvicorn in a thread on `host`; returns once it accepts connections.

    `port`: a free port chosen beforehand (when settings must name the server's own URL)."""
    port = port or free_port()
    app = create_app(settings, services)
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True, name=f"fastflow-{port}")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    return LiveServer(f"http://{host}:{port}", settings, server, thread)


def wait_for_run(
    client: httpx.Client,
    run_id: str,
    statuses: Iterable[str] = ("SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"),
    timeout: float = 60.0,
) -> dict[str, Any]:
    """Poll a run until it reaches one of `statuses`; fails the test on timeout."""
    wanted = set(statuses)
    deadline = time.monotonic() + timeout
    while True:
        run: dict[str, Any] = client.get(f"/api/runs/{run_id}").raise_for_status().json()
        if run["status"] in wanted:
            return run
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} still {run['status']} after {timeout}s")
        time.sleep(0.05)


FASTFLOW_BIN = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "fastflow"


def start_run(client: httpx.Client, name: str, **params: Any) -> str:
    """POST a run of pipeline `name` with `params`; its id."""
    r = client.post(f"/api/pipelines/{name}/run", json={"parameters": params})
    assert r.status_code == 202, r.text
    return str(r.json()["id"])


def event_history(client: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    """Every event of a run's log, in order (`/events/history`)."""
    r = client.get(f"/api/runs/{run_id}/events/history")
    assert r.status_code == 200, r.text
    return [orjson.loads(line) for line in r.content.splitlines() if line.strip()]


def assert_exactly_once(events: list[dict[str, Any]]) -> None:
    """Seqs 1..n with no gap or repeat, and one `complete`, last."""
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1)), seqs
    assert [e["type"] for e in events].count("complete") == 1
    assert events[-1]["type"] == "complete"


def outside_env(**values: str) -> dict[str, str]:
    """This process's environment without fastflow's own settings, plus `values`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTFLOW_", "DATABASE"))}
    env.update(values)
    return env


def serve_process(
    port: int,
    env: dict[str, str],
    log: Path,
    cwd: Path | None = None,
    fastflow: Path = FASTFLOW_BIN,
) -> subprocess.Popen[bytes]:
    """`fastflow serve` as a real process; returns once /health answers, fails otherwise.

    `fastflow`: the command, this checkout's unless another installation's is given."""
    proc = subprocess.Popen(
        [str(fastflow), "serve", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(
                f"fastflow serve did not start:\n{log.read_text(errors='replace')}"
            )
        time.sleep(0.1)


class Served:
    """`fastflow serve` as a real process on a free port, logging to a file in `folder`."""

    def __init__(self, folder: Path, env: dict[str, str], fastflow: Path = FASTFLOW_BIN) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"serve-{self.port}.log"
        self.proc = serve_process(self.port, env, self.log, cwd=folder, fastflow=fastflow)

    def output(self) -> str:
        return self.log.read_text()

    def client(self) -> httpx.Client:
        """An HTTP client signed in as the admin."""
        r = httpx.post(
            f"{self.url}/api/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        )
        r.raise_for_status()
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=60)
