"""A background loop: one base owns the interval, wake-ups, error handling and shutdown.

Subclasses write only `run_once()` (Prefect's LoopService shape). A failing `run_once` is
logged and retried at the next interval; it never ends the loop or the server. With a health
registry, each round reports the loop's health (shown by /metrics).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastflow.monitoring.health import HealthRegistry

log = logging.getLogger(__name__)


class Loop:
    """Calls `run_once` every `interval` seconds, or sooner when `wake()` is called."""

    name = "loop"

    def __init__(
        self,
        interval: float,
        health: HealthRegistry | None = None,
        first_delay: float = 0.0,
        retry_after: float | None = None,
    ) -> None:
        """`retry_after`: seconds after a failed round (default: the interval)."""
        self.interval = interval
        self.health = health
        self.first_delay = first_delay
        self.retry_after = interval if retry_after is None else retry_after
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run_once(self) -> None:
        raise NotImplementedError

    def failed(self, exc: Exception) -> None:
        """A round raised `exc`: logged with its traceback, reported to the health registry."""
        log.exception("%s: one round failed; trying again in %ss", self.name, self.retry_after)
        if self.health is not None:
            self.health.report(self.name, ok=False, detail=str(exc))

    def succeeded(self) -> None:
        """A round went well (after failures, too)."""
        if self.health is not None:
            self.health.report(self.name, ok=True)

    def next_wait(self) -> float:
        """Seconds until the next call; subclasses may wait less (e.g. a retry is due)."""
        return self.interval

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._forever(), name=f"fastflow-{self.name}")

    def wake(self) -> None:
        """Run soon; safe to call from any thread."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            same = asyncio.get_running_loop() is loop
        except RuntimeError:
            same = False
        if same:
            self._wake.set()
        else:
            loop.call_soon_threadsafe(self._wake.set)

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _forever(self) -> None:
        if self.first_delay:
            await asyncio.sleep(self.first_delay)
        while True:
            # Cleared before the round: a wake-up during it means one more round at once.
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed(exc)
                # A failing round waits, wake-ups or not: never a loop that spins.
                await asyncio.sleep(self.retry_after)
                continue
            self.succeeded()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(0.0, self.next_wait()))
