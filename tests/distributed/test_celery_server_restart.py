"""`kill -9` of the server while a worker runs a run: after a restart the log is complete."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import orjson
import pytest
import redis

from fastflow.settings import Settings
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    free_port,
    serve_process,
    wait_for_run,
)
from tests.support.workers import Worker, celery_overrides, clear_prefix


def _serve(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTFLOW_", "DATABASE"))}
    env.update({k: str(v) for k, v in _env_of(settings).items()})
    return serve_process(port, env, log)


def _env_of(s: Settings) -> dict[str, object]:
    return {
        "DATABASE_URL": s.sqlalchemy_url,
        "PIPELINES_DIR": s.pipelines_dir,
        "DATA_DIR": s.data_dir,
        "LOGS_DIR": s.logs_dir,
        "UV_CACHE_DIR": s.resolved_uv_cache_dir,
        "FASTFLOW_ADMIN_USER": ADMIN_USER,
        "FASTFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "DISPATCHER": "celery",
        "REDIS_URL": s.redis_url,
        "FASTFLOW_REDIS_PREFIX": s.redis_prefix,
        "FASTFLOW_WORKER_TOKEN": s.worker_token,
        "WORKER_LOST_AFTER": s.worker_lost_after,
    }


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_server_killed_mid_run_catches_up_from_the_stream(
    make_settings: Callable[..., Settings], tmp_path: Path, uv_cache: Path
) -> None:
    settings = make_settings(**celery_overrides())
    client_redis = redis.Redis.from_url(settings.redis_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    server = _serve(settings, port, log)
    worker = Worker("w1", tmp_path / "w1", url, settings.redis_prefix, uv_cache)
    try:
        worker.wait_ready(client_redis, settings.redis_prefix)
        login = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        token = httpx.post(f"{url}/api/auth/login", json=login).json()["access_token"]
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"})
        run_id = client.post(
            "/api/pipelines/sleeper/run", json={"parameters": {"SECONDS_TO_RUN": "3"}}
        ).json()["id"]
        wait_for_run(client, run_id, statuses=["RUNNING"])
        deadline = time.monotonic() + 60
        while b"tick 2" not in client.get(f"/api/runs/{run_id}/logs").content:
            assert time.monotonic() < deadline, "the run never printed"
            time.sleep(0.05)
        server.send_signal(signal.SIGKILL)
        server.wait()
        # The run goes on without the server; its events wait in its stream.
        stream = f"{settings.redis_prefix}:run:{run_id}:events"
        deadline = time.monotonic() + 60
        while not any(b"complete" in f[b"e"] for _, f in client_redis.xrange(stream)):
            assert time.monotonic() < deadline, "the worker never completed the run"
            time.sleep(0.1)

        server = _serve(settings, port, log)
        run = wait_for_run(client, run_id)
        assert run["status"] == "SUCCESS"
        body = client.get(f"/api/runs/{run_id}/events/history").content
        events = [orjson.loads(line) for line in body.splitlines()]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        lines = [e["line"] for e in events if e["type"] == "log" and e["stream"] == "stdout"]
        ticks = [line for line in lines if line.startswith("tick")]
        assert ticks == [f"tick {i}" for i in range(len(ticks))] and lines[-1] == "finished"
        assert [e["type"] for e in events].count("complete") == 1
        assert not client_redis.exists(stream)
    finally:
        worker.stop()
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
        clear_prefix(client_redis, settings.redis_prefix)
        client_redis.close()
