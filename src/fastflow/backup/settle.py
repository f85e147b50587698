"""Runs a backup caught running come back settled: finished if their log says how they
ended, else FAILED (`LOST`) like the runs a crashed server leaves behind."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from fastflow.events import types as ev
from fastflow.events.log import read_events
from fastflow.events.recorder import RunRecorder
from fastflow.models import FailureKind, RunStatus
from fastflow.storage.database import Database
from fastflow.storage.run_store import RunStore

INTERRUPTED = (
    "the backup was taken while this run was running; it did not go on in the restored "
    "copy, and its output after that point is not in the backup"
)


def settle_interrupted(db: Database, logs_dir: Path) -> int:
    """Settle every RUNNING run of a restored database; returns how many. No retries are
    started and no webhook is sent: this records what happened, it does not run anything.
    PENDING runs stay PENDING: the restored server starts them, as a restarted one does."""
    store = RunStore(db)
    settled = 0
    for run in store.with_status(RunStatus.RUNNING):
        path = logs_dir / f"{run.id}.log"
        done = next(iter(read_events(path, types=frozenset({ev.COMPLETE}))), None)
        if done is not None:
            status = RunStatus(done["status"])
            complete: dict[str, Any] = done
        else:
            status = RunStatus.FAILED
            complete = {
                "status": status.value,
                "success": False,
                "exit_code": None,
                "failure_kind": FailureKind.LOST.value,
                "error": INTERRUPTED,
                "artifacts": [],
            }
            recorder = RunRecorder(run.id, path)
            recorder.error(INTERRUPTED)
            recorder.complete(**complete)
            recorder.close()
        finished = store.finish(
            run.id,
            status,
            exit_code=complete.get("exit_code"),
            failure_kind=complete.get("failure_kind"),
            error_message=complete.get("error"),
        )
        settled += finished is not None
    return settled


def point_logs_at(db: Database, logs_dir: Path) -> None:
    """The runs' recorded log and metrics paths name this machine's LOGS_DIR."""
    prefix = f"{logs_dir}/"
    with db.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE runs SET log_file = :p || id || '.log', "
                "metrics_file = :p || id || '_metrics.jsonl' WHERE log_file IS NOT NULL"
            ),
            {"p": prefix},
        )
