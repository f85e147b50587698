"""RunEngine: takes a claimed run from RUNNING to its end on this server.

The only place run state changes while a run executes here. It writes the `complete` event
to the log before the database (`Settlement`), so the log is always at least as far along
as the database, and a crash between the two is settled from the log on the next start
(`Recovery`).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastflow.events import types as ev
from fastflow.events.recorder import RunRecorder
from fastflow.models import FailureKind, RunStatus
from fastflow.monitoring.timings import StageClock
from fastflow.records import Run
from fastflow.runs.execution import RunExecution
from fastflow.runs.logs import RunLogs
from fastflow.runs.ports import ExecutionResult, Executor, RunControl, RunOutputs, Ticket
from fastflow.runs.settlement import Settlement
from fastflow.storage.run_store import RunStore

log = logging.getLogger(__name__)

_PROGRESS_DB_INTERVAL = 0.5


class RunEngine:
    def __init__(
        self,
        runs: RunStore,
        logs: RunLogs,
        execution: RunExecution,
        settlement: Settlement,
        executors: Mapping[str, Executor],
        outputs: RunOutputs | None = None,
        keep_on_shutdown: bool = False,
        log_timings: bool = False,
    ) -> None:
        """`outputs`: where finished runs' logs are archived (None: they stay local).
        `keep_on_shutdown`: RUNS_ON_SHUTDOWN=keep — runs that outlive the server go on.
        `log_timings`: log each run's stage marks (FASTFLOW_LOG_TIMINGS)."""
        self.runs = runs
        self.logs = logs
        self.execution = execution
        self.settlement = settlement
        self.executors = executors
        self.outputs = outputs
        self.keep_on_shutdown = keep_on_shutdown
        self.log_timings = log_timings
        self._controls: dict[str, RunControl] = {}
        self._progress_flush: dict[str, Callable[[], None]] = {}  # run → write held progress

    def request_cancel(self, run_id: str, reason: str = "cancel requested") -> bool:
        """Ask a run executing here to stop; False when it does not execute here."""
        control = self._controls.get(run_id)
        if control is None:
            return False
        control.cancel_reason = reason
        control.cancel_requested.set()
        log.info(
            "run %s: cancel requested (%s)",
            run_id,
            reason,
            extra={"run_id": run_id, "action": "cancel"},
        )
        return True

    @property
    def active_run_ids(self) -> list[str]:
        return list(self._controls)

    def executes(self, run_id: str) -> bool:
        return run_id in self._controls

    async def execute(self, run: Run) -> None:
        """Execute one claimed (RUNNING) run to its end; never raises."""
        clock = StageClock(run.id, "local", self.log_timings)
        if clock.enabled:  # created_at reads back aware (UTCDateTime)
            clock.mark("created", run.created_at.timestamp())
            clock.mark("claimed")
        control = RunControl(on_stage=clock.mark if clock.enabled else None)
        self._controls[run.id] = control
        log.info("run %s: executing", run.id, extra={"run_id": run.id, "action": "execute"})
        recorder = await asyncio.to_thread(self._open, run)
        clock.mark("opened")
        self.track_progress(run.id, recorder, (run.progress, run.progress_text))
        on_started = functools.partial(self._on_started, run.id, clock)
        work = self.execution.run(Ticket.of(run), recorder, control, on_started)
        await self.follow(run, recorder, work, "executing", clock=clock)

    async def follow(
        self,
        run: Run,
        recorder: RunRecorder,
        work: Coroutine[Any, Any, ExecutionResult],
        doing: str,
        control: RunControl | None = None,
        clock: StageClock | None = None,
    ) -> None:
        """Await `work` and record the outcome; a failure of fastflow's own fails the run.
        `control`: the run's handle when `work` was not started by `execute`. `clock`: the
        run's stage marks (logged once it is settled)."""
        if control is not None:
            self._controls[run.id] = control
        try:
            result = await work
        except Exception as exc:
            log.exception(
                "run %s: %s the run failed",
                run.id,
                doing,
                extra={"run_id": run.id, "action": "execute"},
            )
            result = ExecutionResult(
                RunStatus.FAILED,
                failure_kind=FailureKind.ENGINE_ERROR,
                error=f"internal error while {doing} the run: {exc}",
            )
        finally:
            self._controls.pop(run.id, None)
        if clock is not None:
            clock.mark("exited")
        await asyncio.to_thread(self._finish, run, recorder, result)
        if clock is not None:
            clock.mark("settled")
            clock.log()

    async def health(self, run_id: str) -> dict[str, Any] | None:
        """A health check of a run executing here, by its executor (None: not here)."""
        if run_id not in self._controls:
            return None
        for executor in self.executors.values():
            found = await executor.health(run_id)
            if found is not None:
                return found
        return {"healthy": None, "reason": "this executor does not run health checks"}

    def _open(self, run: Run) -> RunRecorder:
        """The run's recorder, and its cancel flag read again: a cancel that came between
        the claim and the run's control being in place found only the run's row."""
        recorder = self.logs.recorder(run.id)
        if not run.cancel_requested and self.runs.get(run.id).cancel_requested:
            run.cancel_requested = True
        return recorder

    def _on_started(self, run_id: str, clock: StageClock, pid: int) -> None:
        clock.mark("started")
        loop = asyncio.get_running_loop()
        loop.run_in_executor(None, functools.partial(self.runs.update, run_id, pid=pid))

    def track_progress(
        self,
        run_id: str,
        recorder: RunRecorder,
        known: tuple[int | None, str | None] = (None, None),
    ) -> None:
        """Mirror progress into the database, at most twice a second per run; a report that
        comes sooner is written when the interval is over, so the last one always lands.
        `known`: the row's progress and text now (a report saying the same is not written)."""
        last = 0.0
        pending: list[ev.Event] = []  # the newest report held back by the interval
        written = [known]  # what the row says, as far as this tracker knows
        loop = asyncio.get_running_loop()

        def write(event: ev.Event) -> None:
            update = functools.partial(
                self.runs.update,
                run_id,
                progress=event["progress"],
                progress_text=event.get("text"),
            )
            loop.run_in_executor(None, update)

        def flush() -> None:
            nonlocal last
            if pending:
                last = time.monotonic()
                held = pending.pop()
                pending.clear()
                written[0] = (held["progress"], held.get("text"))
                write(held)

        def flush_now() -> None:
            # The run ended: the report held back is written before the final state, so
            # whoever reads the finished run sees its last progress text.
            if pending:
                held = pending.pop()
                pending.clear()
                self.runs.update(run_id, progress=held["progress"], progress_text=held.get("text"))

        self._progress_flush[run_id] = flush_now

        def listener(events: list[ev.Event]) -> None:
            nonlocal last
            latest = next(
                (e for e in reversed(events) if e["type"] == ev.STATUS and "progress" in e), None
            )
            if latest is None:
                return
            if not pending and (latest["progress"], latest.get("text")) == written[0]:
                return  # the row says so already (the claim wrote progress 0)
            now = time.monotonic()
            if now - last < _PROGRESS_DB_INTERVAL:
                if not pending:
                    loop.call_soon_threadsafe(loop.call_later, _PROGRESS_DB_INTERVAL, flush)
                pending[:] = [latest]
                return
            last = now
            pending.clear()
            written[0] = (latest["progress"], latest.get("text"))
            # Called from capture threads: hand the write to the loop's executor.
            loop.call_soon_threadsafe(write, latest)

        recorder.add_listener(listener)

    def _finish(self, run: Run, recorder: RunRecorder, result: ExecutionResult) -> None:
        """Record the outcome: `complete` in the log, then the database and listeners."""
        complete = self.execution.record(Ticket.of(run), recorder, result)
        recorder.close()
        self._progress_flush.pop(run.id, lambda: None)()
        if self.outputs is not None:
            self.outputs.archive_log(
                run.id, self.logs.log_path(run.id), self.logs.metrics_path(run.id)
            )
        self.settlement.settle(run, result.status, complete, result)

    def keeps_on_shutdown(self, run_id: str) -> bool:
        """Whether a stopping server leaves this run to its successor (not cancels it)."""
        control = self._controls.get(run_id)
        return self.keep_on_shutdown and control is not None and control.outlives_server
