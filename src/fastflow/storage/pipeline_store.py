"""PipelineStore: stats counters and flags kept per pipeline name."""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlmodel import Session, col, select

from fastflow.models import RunStatus
from fastflow.records import Pipeline, utcnow
from fastflow.storage.database import Database


class PipelineStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def all(self) -> dict[str, Pipeline]:
        with self._db.session() as s:
            return {p.name: p for p in s.exec(select(Pipeline)).all()}

    def ensure(self, names: Iterable[str]) -> dict[str, Pipeline]:
        """Rows for these names, creating missing ones; returns all rows."""
        rows = self.all()
        missing = [n for n in names if n not in rows]
        if missing:
            with self._db.session() as s:
                for name in missing:
                    s.add(Pipeline(name=name))
                try:
                    s.commit()
                except sa.exc.IntegrityError:  # created concurrently: fine
                    s.rollback()
            rows = self.all()
        return rows

    def get(self, name: str) -> Pipeline:
        """The row for `name`, created on first use."""
        with self._db.session() as s:
            row = s.get(Pipeline, name)
        return row if row is not None else self.ensure([name])[name]

    def reset_stats(self, name: str) -> Pipeline:
        self.ensure([name])
        with self._db.session() as s:
            s.execute(
                sa.update(Pipeline)
                .where(col(Pipeline.name) == name)
                .values(total_runs=0, successful_runs=0, failed_runs=0, stats_reset_at=utcnow())
            )
            s.commit()
        return self.get(name)

    def set_enabled(self, name: str, enabled: bool) -> Pipeline:
        self.ensure([name])
        with self._db.session() as s:
            s.execute(sa.update(Pipeline).where(col(Pipeline.name) == name).values(enabled=enabled))
            s.commit()
        return self.get(name)

    def set_has_requirements(self, name: str, value: bool) -> None:
        with self._db.session() as s:
            s.execute(
                sa.update(Pipeline).where(col(Pipeline.name) == name).values(has_requirements=value)
            )
            s.commit()

    def record_warmup(self, name: str, error: str | None) -> None:
        """The outcome of pre-heating: success stamps `last_cache_warmup`, failure the error."""
        self.ensure([name])
        values: dict[str, object] = {"cache_warmup_error": error}
        if error is None:
            values["last_cache_warmup"] = utcnow()
        with self._db.session() as s:
            s.execute(sa.update(Pipeline).where(col(Pipeline.name) == name).values(**values))
            s.commit()


def count_finished_run(session: Session, name: str, status: RunStatus) -> None:
    """Count a finished run: total always; SUCCESS as successful; FAILED/TIMED_OUT failed.

    Runs inside the caller's transaction, so a run's final state and its count never diverge.
    """
    values: dict[str, object] = {"total_runs": col(Pipeline.total_runs) + 1}
    if status is RunStatus.SUCCESS:
        values["successful_runs"] = col(Pipeline.successful_runs) + 1
    elif status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
        values["failed_runs"] = col(Pipeline.failed_runs) + 1
    res = session.execute(sa.update(Pipeline).where(col(Pipeline.name) == name).values(**values))
    if res.rowcount == 0:  # type: ignore[attr-defined]
        session.add(
            Pipeline(
                name=name,
                total_runs=1,
                successful_runs=int(status is RunStatus.SUCCESS),
                failed_runs=int(status in (RunStatus.FAILED, RunStatus.TIMED_OUT)),
            )
        )
