"""Backups the server takes itself every FASTFLOW_BACKUP_INTERVAL seconds, keeping the newest
FASTFLOW_BACKUP_KEEP in FASTFLOW_BACKUP_DIR."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

from fastflow.backup.create import BackupMaker
from fastflow.backup.keys import passphrase_from
from fastflow.backup.status import BackupStatus, scheduled_archives
from fastflow.loops import Loop
from fastflow.monitoring.health import HealthRegistry
from fastflow.settings import Settings

log = logging.getLogger(__name__)

# Never in the first seconds of a start: the server has better things to do then.
_START_DELAY = 30.0


def prune(directory: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` scheduled archives (and any left half-written)."""
    removed = scheduled_archives(directory)[:-keep]
    removed += sorted(directory.glob("fastflow-backup-*.tar.gz.partial"))
    for path in removed:
        path.unlink(missing_ok=True)
    return removed


class BackupLoop(Loop):
    """Takes a backup when the newest one is `interval` old."""

    name = "backup"

    def __init__(
        self,
        maker: BackupMaker,
        status: BackupStatus,
        interval: float,
        keep: int,
        passphrase: str | None,
        health: HealthRegistry | None = None,
    ) -> None:
        super().__init__(interval, health)
        self.maker = maker
        self.status = status
        self.keep = keep
        self.passphrase = passphrase
        self._inflight: asyncio.Future[None] | None = None

    async def start(self) -> None:
        state = await asyncio.to_thread(self.status.snapshot)
        age = state.age()
        due = 0.0 if age is None else self.interval - age
        self.first_delay = max(due, min(self.interval, _START_DELAY))
        if self.passphrase is None:
            log.warning(
                "scheduled backups hold no keys: keep ENCRYPTION_KEY and the token signing "
                "key elsewhere, or set FASTFLOW_BACKUP_PASSPHRASE to seal them into the archives"
            )
        await super().start()

    async def run_once(self) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.status.snapshot().directory / f"fastflow-backup-{stamp}.tar.gz"
        # A backup once begun is finished (and the old ones pruned) even when the server
        # stops meanwhile: `stop` waits for it.
        self._inflight = asyncio.ensure_future(asyncio.to_thread(self._take, target))
        await asyncio.shield(self._inflight)

    def _take(self, target: Path) -> None:
        started = time.monotonic()
        try:
            result = self.maker.take(target, self.passphrase)
        except Exception as exc:
            self.status.record_failure(str(getattr(exc, "message", exc)))
            raise
        self.status.record(result)
        removed = prune(target.parent, self.keep)
        log.info(
            "backup %s written (%d bytes, %.1f s); %d older removed",
            target,
            result.size,
            time.monotonic() - started,
            len(removed),
        )

    async def stop(self) -> None:
        await super().stop()
        inflight, self._inflight = self._inflight, None
        if inflight is not None:
            with contextlib.suppress(Exception):
                await inflight


def scheduled_backups(
    settings: Settings, health: HealthRegistry
) -> tuple[BackupStatus, BackupLoop | None]:
    """The status the dashboard and /metrics show, and the loop when backups are scheduled."""
    status = BackupStatus(
        settings.resolved_backup_dir, settings.backup_interval, settings.backup_keep
    )
    if settings.backup_interval is None:
        return status, None
    loop = BackupLoop(
        BackupMaker(settings),
        status,
        settings.backup_interval,
        settings.backup_keep,
        passphrase_from(settings, None),
        health,
    )
    return status, loop
