"""Attempts: the one place a run row is made, first or again, and the retry policy.

A first attempt comes from a pipeline and its parameters; every later one copies what the
run it follows was started with and links to it (`parent_run_id`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastflow.models import RunStatus, Trigger
from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.records import Run
from fastflow.runs.logs import RunLogs
from fastflow.storage.run_store import RunStore

log = logging.getLogger(__name__)

_RETRYABLE = (RunStatus.FAILED.value, RunStatus.TIMED_OUT.value)


def first_attempt(
    pipeline: PipelineDefinition,
    params: dict[str, Any],
    *,
    executor: str,
    retries: int,
    trigger: Trigger,
    triggered_by: str | None = None,
    schedule_id: str | None = None,
    source: str | None = None,
) -> Run:
    """A new run of `pipeline`; `retries`: how many more attempts a failure gets."""
    return Run(
        pipeline_name=pipeline.name,
        trigger=trigger.value,
        triggered_by=triggered_by,
        schedule_id=schedule_id,
        executor=executor,
        parameters=params,
        env_vars=dict(params),
        max_attempts=1 + retries,
        source=source,
    )


def new_attempt(old: Run, triggered_by: str | None, *, automatic: bool) -> Run:
    """The next attempt of `old`, with what it was started with, linked to it; an
    `automatic` retry (the policy's) stays part of its schedule, one asked for does not."""
    return Run(
        pipeline_name=old.pipeline_name,
        trigger=Trigger.RETRY.value,
        triggered_by=triggered_by,
        attempt=old.attempt + 1,
        max_attempts=max(old.max_attempts, old.attempt + 1),
        parent_run_id=old.id,
        schedule_id=old.schedule_id if automatic else None,
        executor=old.executor,
        parameters=old.parameters,
        env_vars=old.env_vars,
        source=old.source,
    )


class Attempts:
    """Creates run rows (with their file paths) and hands them to the dispatcher."""

    def __init__(self, runs: RunStore, logs: RunLogs, submit: Callable[[str], None]) -> None:
        self.runs = runs
        self.logs = logs
        self.submit = submit

    def queue(self, run: Run) -> Run:
        run.log_file = str(self.logs.log_path(run.id))
        run.metrics_file = str(self.logs.metrics_path(run.id))
        self.runs.create(run)
        self.submit(run.id)
        return run

    def retry_failed(self, final: Run) -> None:
        """The retry policy, as a run-finished listener: a failed or timed-out run with
        attempts left gets its next attempt at once."""
        if final.status not in _RETRYABLE or final.attempt >= final.max_attempts:
            return
        follow = self.queue(new_attempt(final, final.triggered_by, automatic=True))
        log.info(
            "run %s: attempt %d failed, retrying as %s",
            final.id,
            final.attempt,
            follow.id,
            extra={"run_id": final.id, "action": "retry"},
        )
