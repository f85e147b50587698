"""Backups the server takes itself: on its interval, pruned to FASTFLOW_BACKUP_KEEP, shown in
/metrics; a failing round is reported and retried, never ends the server."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fastflow.backup.create import BackupMaker, BackupResult
from fastflow.backup.errors import BackupError
from fastflow.backup.restore import Restorer
from fastflow.backup.schedule import BackupLoop, prune
from fastflow.backup.status import BackupCollector, BackupStatus
from fastflow.monitoring.health import HealthRegistry
from fastflow.settings import Settings, load_settings
from tests.support.server import start_server


def _metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_the_server_takes_backups_keeps_the_newest_and_reports_them(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    backups = tmp_path / "backups"
    settings = make_settings(
        FASTFLOW_BACKUP_INTERVAL=1,
        FASTFLOW_BACKUP_KEEP=2,
        FASTFLOW_BACKUP_DIR=str(backups),
        FASTFLOW_BACKUP_PASSPHRASE="scheduled passphrase",
    )
    live = start_server(settings)
    try:
        status: BackupStatus = live.services.backup_status
        deadline = time.monotonic() + 30
        while status.snapshot().taken < 3:
            assert time.monotonic() < deadline, status.snapshot()
            time.sleep(0.1)
        with live.client() as c:
            text = c.get("/metrics").text
    finally:
        live.stop()
    archives = sorted(backups.glob("fastflow-backup-*.tar.gz"))
    assert len(archives) == 2
    assert not list(backups.glob("*.partial"))
    state = status.snapshot()
    assert state.last_path == archives[-1] and state.last_keys is True
    assert _metric(text, "fastflow_backup_last_size_bytes") > 0
    assert abs(_metric(text, "fastflow_backup_last_success_timestamp_seconds") - time.time()) < 30
    assert _metric(text, 'fastflow_backups_total{result="ok"}') >= 2
    assert _metric(text, "fastflow_backup_interval_seconds") == 1
    assert _metric(text, 'fastflow_component_up{component="backup"}') == 1
    manifest, sealed = Restorer(make_settings(DATA_DIR=str(tmp_path / "x"))).verify(archives[-1])
    assert sealed is not None and "encryption_key" in manifest.keys


class _Failing(BackupMaker):
    def take(self, *args: object, **kwargs: object) -> BackupResult:
        raise BackupError("the disk is full")


async def test_a_failing_round_is_recorded_and_reported(tmp_path: Path) -> None:
    settings = load_settings(_env_file=None, DATA_DIR=str(tmp_path))
    status = BackupStatus(tmp_path, 3600, 3)
    health = HealthRegistry()
    loop = BackupLoop(_Failing(settings), status, 3600, 3, None, health)
    with pytest.raises(BackupError):
        await loop.run_once()
    state = status.snapshot()
    assert (state.error, state.failed, state.last_at) == ("the disk is full", 1, None)
    families = {m.name: m for m in BackupCollector(status).collect()}
    assert "fastflow_backup_last_success_timestamp_seconds" not in families
    failed = [s for s in families["fastflow_backups"].samples if s.labels == {"result": "failed"}]
    assert failed[0].value == 1


def test_prune_keeps_the_newest_scheduled_archives_only(tmp_path: Path) -> None:
    names = [f"fastflow-backup-2026010{i}T000000Z.tar.gz" for i in range(1, 6)]
    for name in [*names, "mine.tar.gz", "fastflow-backup-20260106T000000Z.tar.gz.partial"]:
        (tmp_path / name).write_bytes(b"x")
    prune(tmp_path, 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["mine.tar.gz", *names[-2:]])
    status = BackupStatus(tmp_path, None, 2)
    assert status.snapshot().last_path == tmp_path / names[-1]
