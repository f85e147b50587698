"""Embedded dispatcher: runs execute as tasks in the server's own event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket

from fastflow.loops import Loop
from fastflow.runs.engine import RunEngine
from fastflow.storage.run_store import RunStore

log = logging.getLogger(__name__)

_POLL_INTERVAL = 5.0  # also pick up runs that other processes queued in the database


class _ClaimLoop(Loop):
    name = "dispatcher"

    def __init__(self, dispatcher: EmbeddedDispatcher) -> None:
        super().__init__(_POLL_INTERVAL, retry_after=1.0)
        self.dispatcher = dispatcher

    async def run_once(self) -> None:
        await self.dispatcher.dispatch_once()

    def failed(self, exc: Exception) -> None:
        log.exception("dispatcher: claiming runs failed; retrying")


class EmbeddedDispatcher:
    """Claims PENDING runs oldest-first while fewer than `max_concurrent` execute."""

    def __init__(self, runs: RunStore, engine: RunEngine, max_concurrent: int) -> None:
        self._runs = runs
        self._engine = engine
        self._max = max_concurrent
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._claims = _ClaimLoop(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._claims.start()  # its first round picks up runs queued before

    def submit(self, run_id: str) -> None:
        # Before start: picked up from the database when dispatching starts.
        self._claims.wake()

    def cancel(self, run_id: str, reason: str = "cancel requested") -> bool:
        loop = self._loop
        # Runs the engine re-attached after a restart are not this dispatcher's tasks.
        if loop is None or (
            run_id not in self._tasks and run_id not in self._engine.active_run_ids
        ):
            return False
        loop.call_soon_threadsafe(self._engine.request_cancel, run_id, reason)
        return True

    async def dispatch_once(self) -> None:
        free = self._max - len(self._tasks)
        if free <= 0:
            return
        claimed = await asyncio.to_thread(self._runs.claim_pending, free, self.worker_name)
        for run in claimed:
            task = asyncio.create_task(self._engine.execute(run), name=f"run-{run.id}")
            self._tasks[run.id] = task
            task.add_done_callback(functools.partial(self._done, run.id))

    def _done(self, run_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(run_id, None)
        self._claims.wake()

    async def stop(self) -> None:
        """Stop dispatching; runs still executing are cancelled through their executor."""
        await self._claims.stop()
        for run_id, task in list(self._tasks.items()):
            if self._engine.keeps_on_shutdown(run_id):
                # FASTFLOW_RUNS_ON_SHUTDOWN=keep: the run goes on under its supervisor or in
                # its container; the next server re-attaches to it.
                task.cancel()
            else:
                self._engine.request_cancel(run_id, "the server shut down")
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=30)
