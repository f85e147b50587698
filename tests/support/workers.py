"""Real `fastflow worker` processes (Celery) for tests, each with its own data folder."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from tests.support.services import service_missing

ROOT = Path(__file__).resolve().parents[2]
TEST_REDIS_URL = os.environ.get("FASTFLOW_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")
WORKER_TOKEN = "test-worker-token-" + "x" * 20


def redis_or_skip() -> redis.Redis:
    client = redis.Redis.from_url(TEST_REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        service_missing("Redis", exc)
    return client


def celery_overrides(prefix: str | None = None) -> dict[str, Any]:
    """Server settings for DISPATCHER=celery, isolated under a fresh Redis key prefix."""
    return {
        "DISPATCHER": "celery",
        "REDIS_URL": TEST_REDIS_URL,
        "FASTFLOW_REDIS_PREFIX": prefix or f"fftest-{uuid.uuid4().hex[:10]}",
        "FASTFLOW_WORKER_TOKEN": WORKER_TOKEN,
        "WORKER_HEARTBEAT": 0.5,
        "WORKER_LOST_AFTER": 3,
    }


def clear_prefix(client: redis.Redis, prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
    if keys:
        client.delete(*keys)


class Worker:
    """One `fastflow worker` subprocess; `kill9()` simulates a crashed machine."""

    def __init__(
        self,
        name: str,
        folder: Path,
        server_url: str,
        prefix: str,
        uv_cache: Path,
        concurrency: int = 2,
        queues: str | None = None,
        prefix_cmd: list[str] | None = None,
        redis_url: str = TEST_REDIS_URL,
        env_extra: dict[str, str] | None = None,
        fastflow: Path = ROOT / ".venv" / "bin" / "fastflow",
    ) -> None:
        self.name = name
        folder.mkdir(parents=True, exist_ok=True)
        self.log = folder / "worker.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTFLOW_", "DATABASE"))}
        env.update(
            {
                "REDIS_URL": redis_url,
                "FASTFLOW_REDIS_PREFIX": prefix,
                "FASTFLOW_URL": server_url,
                "FASTFLOW_WORKER_TOKEN": WORKER_TOKEN,
                "FASTFLOW_WORKER_NAME": name,
                "DATA_DIR": str(folder / "data"),
                "LOGS_DIR": str(folder / "logs"),
                "PIPELINES_DIR": str(folder / "no-pipelines-here"),
                "UV_CACHE_DIR": str(uv_cache),
                "WORKER_HEARTBEAT": "0.5",
                "WORKER_LOST_AFTER": "3",
                "FASTFLOW_CANCEL_GRACE_SECONDS": "2",
                "FASTFLOW_METRICS_INTERVAL": "0.2",
            }
        )
        env.update(env_extra or {})
        cmd = [str(fastflow), "worker", f"--concurrency={concurrency}"]
        if queues:
            cmd.append(f"--queues={queues}")
        self.proc = subprocess.Popen(
            [*(prefix_cmd or []), *cmd],
            env=env,
            cwd=folder,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, client: redis.Redis, prefix: str, timeout: float = 60) -> None:
        """Until the worker consumes: Celery says 'ready' after connecting to the broker."""
        deadline = time.monotonic() + timeout
        while "ready." not in self.output():
            assert self.proc.poll() is None, self.output()
            assert time.monotonic() < deadline, "worker did not start:\n" + self.output()
            time.sleep(0.1)
        assert client.exists(f"{prefix}:worker:{self.name}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def write_retried_pipeline(pipelines: Path) -> None:
    """`retried`: the first attempt ticks until killed; the retry (attempt 2) ends at once."""
    (pipelines / "retried.py").write_text(
        "import os, time\n"
        "i = 0\n"
        "while os.environ['FASTFLOW_ATTEMPT'] == '1':\n"
        "    print(f'tick {i}', flush=True); i += 1; time.sleep(0.1)\n"
        "print('finished')\n"
    )
    (pipelines / "retried.json").write_text('{"retries": 1}')
