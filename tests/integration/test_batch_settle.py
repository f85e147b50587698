"""Remote runs started and settled in batches (one transaction each): every run ends as
alone, a run that had finished already stays as it was and is counted once."""

from __future__ import annotations

from pathlib import Path

from fastflow.events.memory_fanout import MemoryFanout
from fastflow.models import RunStatus
from fastflow.records import Run
from fastflow.runs.logs import RunLogs
from fastflow.runs.settlement import Settlement
from fastflow.storage.database import Database
from fastflow.storage.pipeline_store import PipelineStore
from fastflow.storage.run_store import RunStore


def test_runs_start_and_settle_in_batches_as_they_would_one_by_one(
    db_url: str, tmp_path: Path
) -> None:
    db = Database(db_url)
    runs = RunStore(db)
    ids = [runs.create(Run(pipeline_name=name)).id for name in ("a", "a", "b", "a")]
    runs.mark_started_many([(ids[0], "w1"), (ids[1], "w2"), (ids[2], "w1"), (ids[3], None)])
    started = [runs.get(i) for i in ids]
    assert [(r.status, r.worker) for r in started] == [
        ("RUNNING", "w1"), ("RUNNING", "w2"), ("RUNNING", "w1"), ("RUNNING", None)
    ]  # fmt: skip
    assert all(r.started_at is not None for r in started)
    runs.finish(ids[3], RunStatus.CANCELLED)  # settled before its batch (cancel, LOST, ...)

    ended: list[str] = []
    settlement = Settlement(runs, RunLogs(tmp_path / "logs", MemoryFanout()))
    settlement.subscribe(lambda run: ended.append(run.id))
    ok = {"status": "SUCCESS", "exit_code": 0, "uv_version": "uv 1", "setup_duration": 0.5}
    failed = {"status": "FAILED", "exit_code": 3, "error": "boom", "failure_kind": "EXIT_CODE"}
    settlement.settle_remote_many(
        [(started[0], ok), (started[1], failed), (started[2], ok), (started[3], ok)]
    )
    assert ended == ids[:3]  # the one that had finished is not told again
    first, second, third, cancelled = (runs.get(i) for i in ids)
    assert (first.status, first.exit_code, first.progress, first.uv_version) == (
        "SUCCESS", 0, 100, "uv 1"
    )  # fmt: skip
    assert first.setup_duration == 0.5 and first.finished_at is not None
    assert (second.status, second.exit_code, second.error_message) == ("FAILED", 3, "boom")
    assert second.failure_kind == "EXIT_CODE"
    assert third.status == "SUCCESS" and cancelled.status == "CANCELLED"
    counts = PipelineStore(db).all()
    assert (counts["a"].total_runs, counts["a"].successful_runs, counts["a"].failed_runs) == (
        3, 1, 1
    )  # fmt: skip
    assert (counts["b"].total_runs, counts["b"].successful_runs) == (1, 1)
    assert runs.finish_many([(ids[0], RunStatus.FAILED, {})]) == [None]  # once only
    db.dispose()
