"""A redis-server of a test's own (another port, maybe another address), to restart at will.

The shared Redis on 127.0.0.1:6379 serves every session on this machine: a test that restarts
Redis, watches every command (MONITOR), or must be reached from a network namespace starts
its own here instead.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from pathlib import Path

import redis

from tests.support.server import free_port
from tests.support.services import service_missing


class OwnRedis:
    """One redis-server process; `persistent` keeps its data across restarts (AOF, fsync always)."""

    def __init__(self, folder: Path, host: str = "127.0.0.1", persistent: bool = False) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            service_missing("redis-server (the binary)", "not installed")
        self.binary = str(binary)
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = free_port()
        self.persistent = persistent
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_connect_timeout=2)

    def start(self) -> None:
        """Start (again, on the same port and folder) and wait until it answers PING."""
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always", "--save", ""]
            if self.persistent
            else ["--appendonly", "no", "--save", ""]
        )
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                self.host,
                "--dir",
                str(self.folder),
                "--protected-mode",
                "no",
                "--daemonize",
                "no",
                *persistence,
            ],
            stdout=(self.folder / "redis.log").open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        client = self.client()
        try:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    log = (self.folder / "redis.log").read_text(errors="replace")
                    raise AssertionError(f"redis-server did not start:\n{log}")
                time.sleep(0.05)
        finally:
            client.close()

    def kill(self) -> None:
        """Stop it abruptly (SIGKILL): only what it had already written to disk survives."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def restart(self) -> None:
        """A crash and a restart on the same port: kill -9, then start again."""
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
