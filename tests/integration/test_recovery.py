"""Runs a previous server left RUNNING are settled on start: from the log, or as LOST."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable

import psutil

from fastflow.events.recorder import RunRecorder
from fastflow.models import RunStatus
from fastflow.records import Run, utcnow
from fastflow.settings import Settings
from fastflow.storage.database import Database
from fastflow.storage.run_store import RunStore
from tests.support.server import start_server


def _running_run(settings: Settings, pid: int | None = None) -> str:
    db = Database(settings.sqlalchemy_url)
    run = Run(pipeline_name="hello", status=RunStatus.RUNNING.value, started_at=utcnow(), pid=pid)
    RunStore(db).create(run)
    db.dispose()
    return run.id


def test_run_finished_in_the_log_is_settled_from_it(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    run_id = _running_run(settings)
    rec = RunRecorder(run_id, settings.logs_dir / f"{run_id}.log")
    rec.log_lines("stdout", [("last words", False)])
    rec.complete(
        status="FAILED",
        success=False,
        exit_code=4,
        failure_kind="EXIT_NONZERO",
        error="exited with code 4",
        artifacts=[],
    )
    rec.close()
    live = start_server(settings)
    try:
        with live.client() as client:
            run = client.get(f"/api/runs/{run_id}").json()
            assert (run["status"], run["exit_code"], run["failure_kind"]) == (
                "FAILED",
                4,
                "EXIT_NONZERO",
            )
            assert client.get("/api/pipelines/hello/stats").json()["failed_runs"] == 1
    finally:
        live.stop()


def test_orphaned_run_becomes_lost_and_its_process_is_stopped(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings()
    orphan = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True
    )
    try:
        run_id = _running_run(settings, pid=orphan.pid)
        live = start_server(settings)
        try:
            with live.client() as client:
                run = client.get(f"/api/runs/{run_id}").json()
                assert (run["status"], run["failure_kind"]) == ("FAILED", "LOST")
                assert "server stopped" in run["error_message"]
                tail = client.get(f"/api/runs/{run_id}/events/history").text
                assert '"failure_kind":"LOST"' in tail
            deadline = time.monotonic() + 10
            while orphan.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            assert orphan.returncode == -signal.SIGKILL
        finally:
            live.stop()
    finally:
        if orphan.poll() is None:
            os.killpg(orphan.pid, signal.SIGKILL)
        orphan.wait()
    assert not psutil.pid_exists(orphan.pid) or psutil.Process(orphan.pid).status() == "zombie"
