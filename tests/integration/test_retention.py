"""Retention on a database with thousands of runs: only what the policy names is removed."""

from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from fastflow.cli import app
from fastflow.models import RunStatus
from fastflow.records import Artifact, Run, utcnow
from fastflow.retention.policy import RetentionPolicy
from fastflow.services import build_services
from fastflow.settings import Settings

PIPELINES = ("alpha", "beta", "gamma")
PER_PIPELINE = 1000


def _seed(settings: Settings) -> dict[str, Run]:
    """3,000 runs: 1,000 per pipeline, one per hour back in time; a few still active."""
    services = build_services(settings)
    now = utcnow()
    runs: dict[str, Run] = {}
    rows = []
    for p in PIPELINES:
        for i in range(PER_PIPELINE):
            status = RunStatus.SUCCESS if i % 3 else RunStatus.FAILED
            if i in (500, 999):  # old runs still going: never touched
                status = RunStatus.RUNNING if i == 500 else RunStatus.PENDING
            run = Run(
                id=f"{p}{i:05d}",
                pipeline_name=p,
                status=status.value,
                created_at=now - timedelta(hours=i),
            )
            runs[run.id] = run
            rows.append(run.model_dump())
    with services.db.engine.begin() as conn:
        conn.execute(sa.insert(Run), rows)
        conn.execute(
            sa.insert(Artifact),
            [
                {"run_id": rid, "path": "out.txt", "size": 1, "sha256": "0" * 64, "created_at": now}
                for rid in ("alpha00010", "alpha00400", "alpha00500")
            ],
        )
    for rid in ("alpha00010", "alpha00400", "alpha00500"):
        services.logs.log_path(rid).parent.mkdir(parents=True, exist_ok=True)
        services.logs.log_path(rid).write_text('{"seq":1}\n')
        (settings.work_dir / rid / "artifacts").mkdir(parents=True)
        services.objects.put_bytes(f"runs/{rid}/artifacts/out.txt", b"x")
    services.db.dispose()
    return runs


def _remaining(settings: Settings) -> set[str]:
    services = build_services(settings)
    with services.db.session() as s:
        ids = set(s.exec(sa.select(Run.id)).scalars().all())  # type: ignore[call-overload]
    services.db.dispose()
    return ids


def test_policy_removes_exactly_what_it_names(settings: Settings) -> None:
    runs = _seed(settings)
    services = build_services(settings)
    # Keep the newest 300 per pipeline and 20 days (480 hours): the count rule is stricter.
    services.cleanup.policy = RetentionPolicy(keep_runs=300, keep_days=20)
    dry = services.cleanup.run_once(dry_run=True)
    assert _remaining(settings) == set(runs)  # a dry run removes nothing
    report = services.cleanup.run_once()
    services.db.dispose()

    expected_removed = {
        rid for rid, r in runs.items() if int(rid[-5:]) >= 300 and RunStatus(r.status).is_terminal
    }
    assert set(report.runs) == expected_removed == set(dry.runs)
    assert _remaining(settings) == set(runs) - expected_removed
    assert {"alpha00500", "alpha00999"} <= _remaining(settings)  # active: untouched

    log = services.logs.log_path
    assert log("alpha00010").exists() and not log("alpha00400").exists()
    assert log("alpha00500").exists()
    assert services.objects.exists("runs/alpha00010/artifacts/out.txt")
    assert not services.objects.exists("runs/alpha00400/artifacts/out.txt")
    assert services.objects.exists("runs/alpha00500/artifacts/out.txt")
    assert not (settings.work_dir / "alpha00400").exists()
    assert (settings.work_dir / "alpha00500").exists()  # a running run keeps its work folder
    assert not (settings.work_dir / "alpha00010").exists()  # finished: leftover, swept
    with services.db.session() as s:
        kept = set(s.exec(sa.select(Artifact.run_id)).scalars().all())  # type: ignore[call-overload]
    assert kept == {"alpha00010", "alpha00500"}

    again = services.cleanup.run_once()
    assert again.runs == []  # idempotent


def test_days_only_policy_and_the_cli(settings: Settings, monkeypatch: object) -> None:
    runs = _seed(settings)
    env = {
        "DATABASE_URL": settings.sqlalchemy_url,
        "DATA_DIR": str(settings.data_dir),
        "LOGS_DIR": str(settings.logs_dir),
        "PIPELINES_DIR": str(settings.pipelines_dir),
        "LOG_RETENTION_DAYS": "30",
    }
    cli = CliRunner()
    dry = cli.invoke(app, ["cleanup", "--dry-run"], env=env)
    assert dry.exit_code == 0, dry.output
    # Run i was created i hours before seeding: i >= 720 is past 30 days when cleaning.
    older = {
        rid
        for rid, r in runs.items()
        if int(rid[-5:]) >= 30 * 24 and RunStatus(r.status).is_terminal
    }
    assert f"would remove {len(older)} run(s)" in dry.output
    assert _remaining(settings) == set(runs)
    done = cli.invoke(app, ["cleanup"], env=env)
    assert done.exit_code == 0, done.output
    assert f"removed {len(older)} run(s)" in done.output
    assert _remaining(settings) == set(runs) - older


def test_orphans_are_swept_only_when_old(settings: Settings) -> None:
    services = build_services(settings)
    services.db.migrate()
    fresh = settings.work_dir / "unknownfresh"
    stale = settings.work_dir / "unknownstale"
    stale_log = settings.logs_dir / "unknownstale.log"
    for folder in (fresh, stale):
        folder.mkdir(parents=True)
    stale_log.parent.mkdir(parents=True, exist_ok=True)
    stale_log.write_text("")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    os.utime(stale_log, (old, old))
    report = services.cleanup.run_once()
    services.db.dispose()
    assert fresh.exists()  # may belong to a run being created right now
    assert not stale.exists() and not stale_log.exists()
    assert set(report.leftover_paths) == {str(stale), str(stale_log)}
    assert Path(settings.logs_dir).is_dir()
