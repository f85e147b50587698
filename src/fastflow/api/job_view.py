"""A run as the job (job tracking) and task (build API) objects their clients poll.

Those clients know four status words: `pending`, `running`, `completed`, `failed`. A run's
own status maps onto them (CANCELLED and TIMED_OUT are `failed`, with `run_status` saying
which); everything else comes from the same run row and artifact list as `/api/runs`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastflow.models import FAILURE_MESSAGES, FailureKind, RunStatus
from fastflow.records import Run
from fastflow.services import Services

PENDING = "pending"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"

_WORDS = {
    RunStatus.PENDING: PENDING,
    RunStatus.RUNNING: RUNNING,
    RunStatus.SUCCESS: COMPLETED,
    RunStatus.FAILED: FAILED,
    RunStatus.CANCELLED: FAILED,
    RunStatus.TIMED_OUT: FAILED,
}


def word(status: str) -> str:
    """The job status word of a run status."""
    return _WORDS[RunStatus(status)]


def finished(run: Run) -> bool:
    return RunStatus(run.status).is_terminal


def artifact_names(services: Services, run: Run) -> list[str]:
    """Paths of the files the run kept (kept as it ends, before its `complete` is written,
    so a client that has seen `complete` finds them even before the run row is settled)."""
    return [a.path for a in services.run_files.of_run(run.id)]


def error_of(run: Run) -> str | None:
    """Why a run did not complete, in a sentence; None when it did (or has not ended)."""
    status = RunStatus(run.status)
    if not status.is_terminal or status is RunStatus.SUCCESS:
        return None
    if run.error_message:
        return run.error_message
    if run.failure_kind:
        return FAILURE_MESSAGES.get(FailureKind(run.failure_kind), run.failure_kind)
    return {
        RunStatus.CANCELLED: "The run was cancelled.",
        RunStatus.TIMED_OUT: "The run exceeded its timeout.",
    }.get(status, "The run failed.")


def progress_of(run: Run, live: int | None = None) -> int:
    """0-100: 100 once completed; else the last progress reported (`live`, if newer)."""
    if run.status == RunStatus.SUCCESS:
        return 100
    if live is not None and run.status == RunStatus.RUNNING:
        return live
    return run.progress or 0


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def job(run: Run, artifacts: list[str], live_progress: int | None = None) -> dict[str, Any]:
    """The job object: `job_id`, `status`, `progress`, `result` once completed, `error`
    once failed, and where to poll and stream it."""
    out: dict[str, Any] = {
        "job_id": run.id,
        "pipeline": run.pipeline_name,
        "status": word(run.status),
        "run_status": run.status,
        "progress": progress_of(run, live_progress),
        "progress_text": run.progress_text,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "poll_url": f"/api/jobs/{run.id}",
        "stream_url": f"/api/jobs/{run.id}/stream",
    }
    if run.status == RunStatus.SUCCESS:
        out["result"] = {
            "exit_code": run.exit_code,
            "artifacts": artifacts,
            "logs_url": f"/api/runs/{run.id}/logs",
            "artifacts_url": f"/api/runs/{run.id}/artifacts",
        }
    error = error_of(run)
    if error is not None:
        out["error"] = error
    return out


def task(run: Run, artifacts: list[str]) -> dict[str, Any]:
    """The build task object: `task_id`, `status`, `error_message`, timestamps, artifacts."""
    updated = run.finished_at or run.started_at or run.created_at
    return {
        "task_id": run.id,
        "status": word(run.status),
        "run_status": run.status,
        "app_name": run.pipeline_name,
        "progress": progress_of(run),
        "error_message": error_of(run),
        "created_at": _iso(run.created_at),
        "updated_at": _iso(updated),
        "artifacts": artifacts,
        "status_url": f"/api/v1/tasks/{run.id}",
        "logs_url": f"/api/runs/{run.id}/logs",
        "artifacts_url": f"/api/runs/{run.id}/artifacts",
    }
