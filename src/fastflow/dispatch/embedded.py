"""Embedded dispatcher: runs execute as tasks in the server's own event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
import threading

from fastflow.loops import Loop
from fastflow.records import Run
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
    """Claims PENDING runs oldest-first while fewer than `max_concurrent` execute.

    A run submitted while a slot is free and no other run waits is claimed at once by the
    thread that submitted it (the express way: no round of the claim loop, no thread hop,
    no read for the oldest); otherwise the claim loop takes the oldest when a slot frees."""

    def __init__(self, runs: RunStore, engine: RunEngine, max_concurrent: int) -> None:
        self._runs = runs
        self._engine = engine
        self._max = max_concurrent
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._claims = _ClaimLoop(self)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.worker_name = f"{socket.gethostname()}:{os.getpid()}"
        self._slots = threading.Lock()
        self._reserved = 0  # slots taken by claims whose task is not created yet
        self._waiting = True  # runs may wait in the database (until a round says not)
        self._stopping = False

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._claims.start()  # its first round picks up runs queued before

    def submit(self, run_id: str) -> None:
        # Before start: picked up from the database when dispatching starts.
        if not self._express(run_id):
            self._claims.wake()

    def _express(self, run_id: str) -> bool:
        """Claim `run_id` in the submitting thread when a slot is free and no older run
        waits; False: it is the claim loop's."""
        loop = self._loop
        if loop is None or loop.is_closed() or _on(loop):
            return False  # not started, or on the loop (a database write would block it)
        with self._slots:
            if self._stopping or self._waiting:
                return False
            if self._max - len(self._tasks) - self._reserved <= 0:
                self._waiting = True  # it waits: runs submitted after it go after it
                return False
            self._reserved += 1
        try:
            run = self._runs.claim(run_id, self.worker_name)
        except Exception:
            log.exception("dispatcher: claiming run %s failed; the claim loop retries", run_id)
            run = None
        if run is None:
            self._release(1)
            return False
        loop.call_soon_threadsafe(self._launch, [run], 1)
        return True

    def _release(self, slots: int) -> None:
        with self._slots:
            self._reserved -= slots

    def _launch(self, claimed: list[Run], reserved: int) -> None:
        """On the loop: an execution task for each claimed run; their slots stop being
        reserved (they are tasks now)."""
        for run in claimed:
            task = asyncio.create_task(self._engine.execute(run), name=f"run-{run.id}")
            self._tasks[run.id] = task
            task.add_done_callback(functools.partial(self._done, run.id))
        self._release(reserved)

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
        with self._slots:
            free = self._max - len(self._tasks) - self._reserved
            if free <= 0:
                self._waiting = True
                return
            self._reserved += free
        try:
            claimed = await asyncio.to_thread(self._runs.claim_pending, free, self.worker_name)
        except BaseException:
            self._release(free)
            raise
        with self._slots:
            # All it found fit: more may wait. Fewer: none waits (until a submit finds no
            # free slot, or another process queues runs: the loop's poll picks those up).
            self._waiting = len(claimed) == free
        self._launch(claimed, free)

    def _done(self, run_id: str, _task: asyncio.Task[None]) -> None:
        self._tasks.pop(run_id, None)
        self._claims.wake()

    async def stop(self) -> None:
        """Stop dispatching; runs still executing are cancelled through their executor."""
        with self._slots:
            self._stopping = True
        await self._claims.stop()
        # An express claim on its way to becoming a task (a database write, then the loop).
        deadline = asyncio.get_running_loop().time() + 30
        while self._reserved and asyncio.get_running_loop().time() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        for run_id, task in list(self._tasks.items()):
            if self._engine.keeps_on_shutdown(run_id):
                # FASTFLOW_RUNS_ON_SHUTDOWN=keep: the run goes on under its supervisor or in
                # its container; the next server re-attaches to it.
                task.cancel()
            else:
                self._engine.request_cancel(run_id, "the server shut down")
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=30)


def _on(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether the calling thread runs `loop`."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
