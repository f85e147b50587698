"""A backup taken while a run goes on a Celery worker: restored, the run comes back settled."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fastflow.settings import Settings
from tests.distributed.conftest import Cluster
from tests.integration.test_backup import cli
from tests.support.server import start_server, wait_for_run


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_a_remote_run_going_at_backup_time_comes_back_settled(
    cluster: Cluster,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    cluster.worker("w1", concurrency=1)
    settings = cluster.server.settings
    with cluster.server.client() as c:
        going: dict[str, Any] = c.post(
            "/api/pipelines/sleeper/run", json={"parameters": {"SECONDS_TO_RUN": "60"}}
        ).json()
        deadline = time.monotonic() + 90
        while "tick 3" not in c.get(f"/api/runs/{going['id']}/logs").text:
            assert time.monotonic() < deadline, "the remote run printed nothing"
            time.sleep(0.1)
        taken = cli(settings, "backup", str(tmp_path / "remote.tar"))
        assert taken.returncode == 0, taken.stderr
        assert "1 running" in taken.stdout
        c.post(f"/api/runs/{going['id']}/cancel")
        wait_for_run(c, going["id"], timeout=60)

    new = make_settings(
        DATABASE_URL=f"sqlite:///{tmp_path / 'new' / 'data' / 'fastflow.db'}",
        DATA_DIR=str(tmp_path / "new" / "data"),
        LOGS_DIR=str(tmp_path / "new" / "logs"),
        FASTFLOW_REDIS_PREFIX=f"fftest-{uuid.uuid4().hex[:10]}",
    )
    done = cli(new, "restore", str(tmp_path / "remote.tar"))
    assert done.returncode == 0, done.stderr
    assert "1 run(s) that were running at backup time are settled" in done.stdout
    live = start_server(new)
    try:
        with live.client() as c:
            settled = c.get(f"/api/runs/{going['id']}").json()
            assert (settled["status"], settled["failure_kind"]) == ("FAILED", "LOST")
            assert settled["executor"] == "local"
            assert "tick 3" in c.get(f"/api/runs/{going['id']}/logs").text
    finally:
        live.stop()
