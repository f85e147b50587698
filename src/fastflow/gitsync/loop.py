"""AUTO_SYNC_INTERVAL: sync PIPELINES_DIR periodically."""

from __future__ import annotations

from fastflow.gitsync.service import SyncService
from fastflow.loops import Loop
from fastflow.monitoring.health import HealthRegistry


class AutoSyncLoop(Loop):
    name = "auto-sync"

    def __init__(
        self, sync: SyncService, interval: float, health: HealthRegistry | None = None
    ) -> None:
        super().__init__(interval, health)
        self.sync = sync

    async def run_once(self) -> None:
        # A failure is recorded in the sync status and logged by the service; raising it
        # here marks the loop unhealthy in /metrics until the next sync succeeds.
        await self.sync.sync(reason="auto")
