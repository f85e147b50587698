"""What the server knows of its backups: the newest in FASTFLOW_BACKUP_DIR, the last attempt,
and the Prometheus gauges and counters made of it."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fastflow.backup.create import BackupResult

# Names of the archives the server takes itself (and prunes to FASTFLOW_BACKUP_KEEP).
SCHEDULED = re.compile(r"^fastflow-backup-\d{8}T\d{6}Z\.tar\.gz$")


@dataclass(frozen=True)
class BackupState:
    directory: Path
    interval: float | None
    keep: int
    last_path: Path | None = None
    last_size: int | None = None
    last_at: float | None = None  # Unix time the newest backup was finished
    last_seconds: float | None = None  # how long it took (taken by this server only)
    last_keys: bool | None = None  # whether it holds the sealed keys (this server only)
    error: str | None = None  # the last attempt's, when it failed
    error_at: float | None = None
    taken: int = 0
    failed: int = 0

    def age(self, now: float | None = None) -> float | None:
        return None if self.last_at is None else max(0.0, (now or time.time()) - self.last_at)


def scheduled_archives(directory: Path) -> list[Path]:
    """The server's own archives in `directory`, oldest first (their names sort by time)."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if SCHEDULED.match(p.name) and p.is_file())


def human_size(n: int) -> str:
    """'512 B', '3.4 MB', '1.2 GB'."""
    value = float(n)
    for unit in ("B", "KB", "MB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


class BackupStatus:
    """Shared by the backup loop (writes), /metrics and the dashboard (read)."""

    def __init__(self, directory: Path, interval: float | None, keep: int) -> None:
        self._lock = threading.Lock()
        self._state = BackupState(directory, interval, keep)
        self._scanned = False

    def _scan(self) -> None:
        """After a restart: the newest archive already in the folder is the last backup."""
        archives = scheduled_archives(self._state.directory)
        if archives:
            st = archives[-1].stat()
            self._state = replace(
                self._state, last_path=archives[-1], last_size=st.st_size, last_at=st.st_mtime
            )
        self._scanned = True

    def snapshot(self) -> BackupState:
        with self._lock:
            if not self._scanned:
                self._scan()
            return self._state

    def record(self, result: BackupResult) -> None:
        with self._lock:
            self._scanned = True
            self._state = replace(
                self._state,
                last_path=result.path,
                last_size=result.size,
                last_at=time.time(),
                last_seconds=result.seconds,
                last_keys=result.keys_included,
                error=None,
                error_at=None,
                taken=self._state.taken + 1,
            )

    def record_failure(self, error: str) -> None:
        with self._lock:
            self._state = replace(
                self._state, error=error, error_at=time.time(), failed=self._state.failed + 1
            )


class BackupCollector(Collector):
    """`fastflow_backup_*` for /metrics, read at scrape time."""

    def __init__(self, status: BackupStatus) -> None:
        self._status = status

    def collect(self) -> Iterator[Metric]:
        state = self._status.snapshot()
        if state.last_at is not None:
            yield GaugeMetricFamily(
                "fastflow_backup_last_success_timestamp_seconds",
                "Unix time the newest backup in FASTFLOW_BACKUP_DIR was finished",
                value=state.last_at,
            )
        if state.last_size is not None:
            yield GaugeMetricFamily(
                "fastflow_backup_last_size_bytes",
                "Size of the newest backup archive",
                value=state.last_size,
            )
        if state.last_seconds is not None:
            yield GaugeMetricFamily(
                "fastflow_backup_last_duration_seconds",
                "How long the last backup this server took lasted",
                value=state.last_seconds,
            )
        yield GaugeMetricFamily(
            "fastflow_backup_interval_seconds",
            "FASTFLOW_BACKUP_INTERVAL (0: the server takes no backups)",
            value=state.interval or 0,
        )
        total = CounterMetricFamily(
            "fastflow_backups", "Backups this server attempted, by result", labels=["result"]
        )
        total.add_metric(["ok"], state.taken)
        total.add_metric(["failed"], state.failed)
        yield total
