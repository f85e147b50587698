"""AUTO_SYNC_INTERVAL: sync PIPELINES_DIR periodically."""

from __future__ import annotations

import contextlib

from fastflow.errors import FastflowError
from fastflow.gitsync.service import SyncService
from fastflow.loops import Loop


class AutoSyncLoop(Loop):
    name = "auto-sync"

    def __init__(self, sync: SyncService, interval: float) -> None:
        super().__init__(interval)
        self.sync = sync

    async def run_once(self) -> None:
        # A failure is recorded in the sync status and logged by the service.
        with contextlib.suppress(FastflowError):
            await self.sync.sync(reason="auto")
