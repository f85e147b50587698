"""The real `fastflow` command as a subprocess: serve with nothing configured, crash, restart."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.server import Served, wait_for_run

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTFLOW_", "DATABASE"))}
    env.update(
        {
            "PIPELINES_DIR": str(tmp_path / "pipelines"),
            "DATA_DIR": str(tmp_path / "data"),
            "LOGS_DIR": str(tmp_path / "logs"),
        }
    )
    env.update(extra)
    return env


def _fastflow(*args: str) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "fastflow"), *args]


@pytest.fixture
def pipelines(tmp_path: Path) -> Iterator[Path]:
    import shutil

    shutil.copytree(ROOT / "examples" / "pipelines", tmp_path / "pipelines")
    shutil.copy(ROOT / "tests/fixtures/pipelines/sleeper.py", tmp_path / "pipelines")
    yield tmp_path / "pipelines"


def test_serve_with_nothing_configured_then_crash_and_restart(
    tmp_path: Path, pipelines: Path
) -> None:
    env = _env(tmp_path)
    first = Served(tmp_path, env)
    try:
        password = re.search(r"with password: (\S+)", first.output())
        assert password, first.output()
        key = tmp_path / "data" / "secret_key"
        assert key.stat().st_mode & 0o777 == 0o600
        token = httpx.post(
            f"{first.url}/api/auth/login",
            json={"username": "admin", "password": password.group(1)},
        ).json()["access_token"]
        client = httpx.Client(base_url=first.url, headers={"Authorization": f"Bearer {token}"})
        names = {p["name"] for p in client.get("/api/pipelines").json()}
        assert {"hello", "with_requirements", "failing", "long_progress"} <= names
        hello = client.post("/api/pipelines/hello/run", json={}).json()
        assert wait_for_run(client, hello["id"])["status"] == "SUCCESS"
        long = client.post(
            "/api/pipelines/sleeper/run", json={"parameters": {"SECONDS_TO_RUN": "4"}}
        ).json()
        wait_for_run(client, long["id"], statuses=["RUNNING"])
        pid = None
        deadline = time.monotonic() + 30
        while pid is None:
            assert time.monotonic() < deadline, "the run's pid was never recorded"
            pid = first_pid(tmp_path, long["id"])
            time.sleep(0.05)
        first.kill9()
    finally:
        first.stop()

    second = Served(tmp_path, env)
    try:
        assert "with password" not in second.output()  # announced once, on first start only
        client = httpx.Client(base_url=second.url, headers={"Authorization": f"Bearer {token}"})
        # The run outlived the server under its supervisor; the new server re-attached to it.
        run = wait_for_run(client, long["id"], timeout=60)
        assert (run["status"], run["exit_code"]) == ("SUCCESS", 0), run
        events = [
            json.loads(line)
            for line in client.get(f"/api/runs/{long['id']}/events/history").text.splitlines()
        ]
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        ticks = [e["line"] for e in events if e.get("stream") == "stdout"]
        assert ticks[-1] == "finished"
        assert ticks[:-1] == [f"tick {i}" for i in range(len(ticks) - 1)]
        assert not _alive(pid)
    finally:
        second.stop()


def first_pid(tmp_path: Path, run_id: str) -> int | None:
    import sqlite3

    con = sqlite3.connect(tmp_path / "data" / "fastflow.db")
    try:
        row = con.execute("SELECT pid FROM runs WHERE id = ?", (run_id,)).fetchone()
    finally:
        con.close()
    return row[0] if row else None


def _alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_invalid_setting_stops_the_start_with_one_clear_line(tmp_path: Path) -> None:
    r = subprocess.run(
        _fastflow("serve"),
        env=_env(tmp_path, MAX_CONCURRENT_RUNS="lots"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("invalid configuration: MAX_CONCURRENT_RUNS:")


def test_db_upgrade_and_user_create(tmp_path: Path) -> None:
    env = _env(tmp_path)
    up = subprocess.run(_fastflow("db", "upgrade"), env=env, capture_output=True, text=True)
    assert up.returncode == 0, up.stderr
    assert "revision 0" in up.stdout
    made = subprocess.run(
        _fastflow("user", "create", "olga", "--role", "operator", "--password", "olga-password"),
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    again = subprocess.run(
        _fastflow("user", "create", "olga", "--password", "olga-password"),
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    short = subprocess.run(
        _fastflow("user", "create", "pat", "--password", "short"),
        env=env,
        capture_output=True,
        text=True,
    )
    assert short.returncode == 1 and "at least 8" in short.stderr
