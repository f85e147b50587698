"""LoopService: the one base for background loops (cleanup; scheduler and sync may follow).

It owns the interval, error handling, health reporting and shutdown; a subclass writes only
`run_once()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastflow.monitoring.health import HealthRegistry

log = logging.getLogger(__name__)


class LoopService:
    name = "loop"

    def __init__(
        self, interval: float, health: HealthRegistry | None = None, first_delay: float = 0.0
    ) -> None:
        self.interval = interval
        self.first_delay = first_delay
        self.health = health
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> None:
        raise NotImplementedError

    async def start(self) -> None:
        self._task = asyncio.create_task(self._forever(), name=f"fastflow-{self.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        await asyncio.sleep(self.first_delay)
        while True:
            try:
                await self.run_once()
            except Exception as exc:
                log.exception("%s: a round failed; trying again in %gs", self.name, self.interval)
                if self.health is not None:
                    self.health.report(self.name, ok=False, detail=str(exc))
            else:
                if self.health is not None:
                    self.health.report(self.name, ok=True)
            await asyncio.sleep(self.interval)
