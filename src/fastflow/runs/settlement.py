"""Settling runs: the final state in the database, then everyone who waits for runs to end.

The `complete` event is in the run's log before anything here runs, so the log is always at
least as far along as the database (a crash between the two is settled from the log).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastflow.errors import NotFoundError
from fastflow.models import FailureKind, RunStatus
from fastflow.records import Run
from fastflow.runs.logs import RunLogs
from fastflow.runs.outcome import record_outcome
from fastflow.runs.ports import ExecutionResult
from fastflow.storage.run_store import RunStore

log = logging.getLogger(__name__)

FinishedListener = Callable[[Run], None]


class Settlement:
    def __init__(self, runs: RunStore, logs: RunLogs) -> None:
        self.runs = runs
        self.logs = logs
        # Called (in a worker thread) with the final row of every run that ends, in the
        # order they subscribed: the retry policy first, then webhooks, the scheduler's
        # queue policy, metrics.
        self._finished: list[FinishedListener] = []

    def subscribe(self, listener: FinishedListener) -> None:
        self._finished.append(listener)

    def settle(
        self,
        run: Run,
        status: RunStatus,
        complete: dict[str, Any],
        result: ExecutionResult | None = None,
        started: dict[str, Any] | None = None,
    ) -> None:
        """Record a run's end (its `complete` is in the log) and tell the listeners once;
        `started`: the fields of its start, for a run whose start is recorded with its end."""
        fields: dict[str, Any] = {
            **(started or {}),
            "exit_code": complete.get("exit_code"),
            "failure_kind": complete.get("failure_kind"),
            "error_message": complete.get("error"),
        }
        if status is RunStatus.SUCCESS:
            fields["progress"] = 100
        if result is not None:
            fields["uv_version"] = result.uv_version
            fields["setup_duration"] = result.setup_duration
        finished = self.runs.finish(run.id, status, **fields)
        if finished is None:
            return  # settled already (e.g. by recovery): count it once
        log.info(
            "run %s: %s",
            run.id,
            status.value,
            extra={"run_id": run.id, "action": "settle", "status": status.value},
        )
        self.notify_finished(run.id, finished)

    def notify_finished(self, run_id: str, final: Run | None = None) -> None:
        """Tell every listener that a run ended; a failing listener is logged."""
        if not self._finished:
            return
        if final is None:
            try:
                final = self.runs.get(run_id)
            except NotFoundError:
                return
        for listener in list(self._finished):
            try:
                listener(final)
            except Exception:
                log.exception(
                    "run %s: a run-finished listener failed",
                    run_id,
                    extra={"run_id": run_id, "action": "notify"},
                )

    def settle_failed(self, run: Run, message: str, kind: FailureKind = FailureKind.LOST) -> None:
        """End a run that no executor will finish: error + `complete` in its log, then the DB.

        Retried per its policy like any failure (a LOST remote run gets a linked attempt).
        """
        recorder = self.logs.recorder(run.id, capped=False)
        result = ExecutionResult(RunStatus.FAILED, failure_kind=kind, error=message)
        complete = record_outcome(recorder, result)
        recorder.close()
        self.settle(run, RunStatus.FAILED, complete)

    def record_cancelled_pending(self, run_id: str, error: str) -> None:
        """The `complete` of a PENDING run cancelled before any executor had it (its row
        says CANCELLED already; the caller tells the listeners)."""
        recorder = self.logs.recorder(run_id, capped=False)
        record_outcome(recorder, ExecutionResult(RunStatus.CANCELLED, error=error), say_error=False)
        recorder.close()

    def settle_remote(
        self, run: Run, complete: dict[str, Any], started: dict[str, Any] | None = None
    ) -> None:
        """Record the outcome of a run a worker executed; its `complete` is in the log already.
        `started`: how it started, when that is not in the database yet (one UPDATE for both)."""
        result = ExecutionResult(
            RunStatus(complete["status"]),
            uv_version=complete.get("uv_version"),
            setup_duration=complete.get("setup_duration"),
        )
        self.settle(run, result.status, complete, result, started)
