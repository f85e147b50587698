"""Shared helpers for benchmarks: a real `fastflow serve` subprocess on temporary folders."""

from __future__ import annotations

import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
FASTFLOW = str(Path(sys.executable).parent / "fastflow")
PASSWORD = "bench-password"


def bench_dir(prefix: str) -> Path:
    """A temporary folder the runs' OS user may pass through (mkdtemp makes it 0700; a
    server running as root runs its pipelines as `nobody`)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o711)
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class BenchServer:
    """`fastflow serve` with its own data, logs and pipelines folders."""

    def __init__(self, pipelines: dict[str, str], **env: str) -> None:
        self.tmp = bench_dir("fastflow-bench-")
        pdir = self.tmp / "pipelines"
        pdir.mkdir()
        for name, source in pipelines.items():
            (pdir / f"{name}.py").write_text(source)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        full_env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("FASTFLOW_")},
            "PIPELINES_DIR": str(pdir),
            "DATA_DIR": str(self.tmp / "data"),
            "LOGS_DIR": str(self.tmp / "logs"),
            "FASTFLOW_ADMIN_PASSWORD": PASSWORD,
            "FASTFLOW_PORT": str(self.port),
            **env,
        }
        full_env.pop("DATABASE_URL", None) if "DATABASE_URL" not in env else None
        self.proc = subprocess.Popen(
            [FASTFLOW, "serve"],
            env=full_env,
            stdout=subprocess.DEVNULL,
            stderr=(self.tmp / "server.log").open("wb"),
        )
        deadline = time.monotonic() + 180  # a loaded machine starts it slowly
        while True:
            try:
                if httpx.get(f"{self.url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()  # not left running when it did not come up in time
                self.proc.wait()
                raise RuntimeError((self.tmp / "server.log").read_text())
        token = httpx.post(
            f"{self.url}/api/auth/login", json={"username": "admin", "password": PASSWORD}
        ).json()["access_token"]
        self.client = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )

    def start_run(self, pipeline: str, **params: Any) -> str:
        r = self.client.post(f"/api/pipelines/{pipeline}/run", json={"parameters": params})
        r.raise_for_status()
        return str(r.json()["id"])

    def follow(self, run_id: str) -> dict[str, Any]:
        """Wait for the run's end the way a client does: its SSE stream until `complete`."""
        with self.client.stream("GET", f"/api/runs/{run_id}/events") as r:
            for line in r.iter_lines():
                if line.startswith("event: complete"):
                    break
        # `complete` is in the log (and sent) just before the database records the end.
        return self.wait(run_id)

    def wait(self, run_id: str, poll: float = 0.001) -> dict[str, Any]:
        while True:
            run: dict[str, Any] = self.client.get(f"/api/runs/{run_id}").json()
            if run["status"] not in ("PENDING", "RUNNING"):
                return run
            time.sleep(poll)

    def close(self) -> None:
        self.client.close()
        self.proc.terminate()
        self.proc.wait(timeout=60)
        shutil.rmtree(self.tmp, ignore_errors=True)


def timed(cmd: Sequence[str], repeat: int, **kw: Any) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, **kw)
        out.append(time.perf_counter() - t)
    return out


def ms(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[int(len(values) * 0.9) - 1] if len(values) >= 10 else values[-1]
    return (
        f"median {statistics.median(values) * 1000:7.1f} ms  "
        f"min {values[0] * 1000:7.1f}  p90 {p90 * 1000:7.1f}"
    )
