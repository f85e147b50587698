"""RunStore: every query about runs. Nothing else in fastflow writes SQL for runs."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, col, func, select

from fastflow.errors import NotFoundError
from fastflow.models import TERMINAL_STATUSES, RunStatus
from fastflow.records import Run, RunFilter, utcnow
from fastflow.storage.database import Database
from fastflow.storage.pipeline_store import count_finished_run

_RUN_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_ACTIVE = (RunStatus.PENDING.value, RunStatus.RUNNING.value)
_TERMINAL = tuple(s.value for s in TERMINAL_STATUSES)

_IN_CHUNK = 500  # ids per IN (...) list, well under any database's limit of parameters
SORTABLE = {"created_at", "started_at", "finished_at", "pipeline_name", "status"}


_RUNS: sa.Table = SQLModel.metadata.tables[Run.__tablename__]
# Statements on every run's way, built once (building one costs more than running it).
_MARK_STARTED = (
    sa.update(_RUNS)
    .where(_RUNS.c.id == sa.bindparam("run_id"), _RUNS.c.status == RunStatus.PENDING.value)
    .values(
        status=RunStatus.RUNNING.value,
        started_at=sa.bindparam("at", type_=_RUNS.c.started_at.type),
        worker=sa.bindparam("by", type_=_RUNS.c.worker.type),
    )
)
_MARK_STARTED_WITH_PROGRESS = _MARK_STARTED.values(
    progress=sa.bindparam("progress", type_=_RUNS.c.progress.type),
    progress_text=sa.bindparam("text", type_=_RUNS.c.progress_text.type),
)


class RunStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, run: Run) -> Run:
        with self._db.session() as s:
            s.add(run)
            s.commit()
            return run

    def get(self, run_id: str) -> Run:
        """The run, or NotFoundError — also for ids that cannot exist (NUL, slashes, …),
        so no caller ever hands such a string to the database or the file system."""
        if not _RUN_ID.fullmatch(run_id):
            raise NotFoundError(f"run {run_id!r} not found")
        with self._db.session() as s:
            run = s.get(Run, run_id)
        if run is None:
            raise NotFoundError(f"run {run_id!r} not found")
        return run

    def get_many(self, run_ids: list[str]) -> list[Run]:
        """The runs of these ids that exist, in the order asked, with one query (ids that
        cannot exist are left out like missing ones)."""
        wanted = list(dict.fromkeys(i for i in run_ids if _RUN_ID.fullmatch(i)))
        found: dict[str, Run] = {}
        with self._db.session() as s:
            for at in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[at : at + _IN_CHUNK]
                found.update((r.id, r) for r in s.exec(select(Run).where(col(Run.id).in_(chunk))))
        return [found[i] for i in wanted if i in found]

    def search(
        self,
        flt: RunFilter,
        limit: int = 50,
        offset: int = 0,
        sort: str = "created_at",
        descending: bool = True,
    ) -> tuple[list[Run], int]:
        """A page of runs matching the filter, and how many match in all."""
        conds: list[Any] = []
        if flt.pipeline:
            conds.append(col(Run.pipeline_name) == flt.pipeline)
        if flt.statuses:
            conds.append(col(Run.status).in_(list(flt.statuses)))
        if flt.schedule_id:
            conds.append(col(Run.schedule_id) == flt.schedule_id)
        if flt.since:
            conds.append(col(Run.created_at) >= flt.since)
        if flt.until:
            conds.append(col(Run.created_at) < flt.until)
        if flt.parent_run_id:
            conds.append(col(Run.parent_run_id) == flt.parent_run_id)
        order_col = getattr(Run, sort)
        order = [order_col.desc(), col(Run.id).desc()] if descending else [order_col, Run.id]
        with self._db.session() as s:
            total = s.exec(select(func.count()).select_from(Run).where(*conds)).one()
            rows = s.exec(
                select(Run).where(*conds).order_by(*order).offset(offset).limit(limit)
            ).all()
        return list(rows), int(total)

    def update(self, run_id: str, **fields: Any) -> None:
        # On the table, not the mapped class: no ORM bookkeeping for a plain UPDATE (it is on
        # every run's way, e.g. its pid).
        with self._db.engine.begin() as conn:
            conn.execute(sa.update(_RUNS).where(_RUNS.c.id == run_id).values(**fields))

    def claim_pending(self, limit: int, worker: str) -> list[Run]:
        """Atomically move up to `limit` oldest PENDING runs to RUNNING; returns the claimed,
        oldest first. Two statements: a read (all there is when nothing is waiting, as after
        every run's end) and one update that returns the rows it claimed."""
        if limit <= 0:
            return []
        with self._db.session() as s:
            ids = s.exec(
                select(Run.id)
                .where(col(Run.status) == RunStatus.PENDING.value)
                .order_by(col(Run.created_at), col(Run.id))
                .limit(limit)
            ).all()
            if not ids:
                return []
            runs = list(s.scalars(_claim(col(Run.id).in_(ids), worker)).all())
            s.commit()
        return sorted(runs, key=lambda r: (r.created_at, r.id))

    def claim(self, run_id: str, worker: str) -> Run | None:
        """Move one PENDING run to RUNNING, as `claim_pending` does; None when it is no
        longer PENDING (cancelled, or claimed by another dispatcher)."""
        with self._db.session() as s:
            run = s.scalars(_claim(col(Run.id) == run_id, worker)).one_or_none()
            s.commit()
        return run

    def mark_started(
        self,
        run_id: str,
        worker: str | None,
        progress: int | None = None,
        text: str | None = None,
    ) -> bool:
        """A remote worker began the run: PENDING → RUNNING, with its `progress` and
        progress `text` when given; False when it is not PENDING."""
        # A plain UPDATE built once: it is on every remote run's way through the ingest.
        values = {"run_id": run_id, "at": utcnow(), "by": worker}
        with self._db.engine.begin() as conn:
            if progress is None:
                res = conn.execute(_MARK_STARTED, values)
            else:
                res = conn.execute(
                    _MARK_STARTED_WITH_PROGRESS, {**values, "progress": progress, "text": text}
                )
            return bool(res.rowcount == 1)

    def active(self) -> list[Run]:
        """PENDING and RUNNING runs, oldest first."""
        with self._db.session() as s:
            return list(
                s.exec(
                    select(Run)
                    .where(col(Run.status).in_(_ACTIVE))
                    .order_by(col(Run.created_at), col(Run.id))
                ).all()
            )

    def finish(self, run_id: str, status: RunStatus, **fields: Any) -> Run | None:
        """Record a terminal state and count it in the pipeline's stats, in one transaction.

        Returns the finished run, or None when it had already finished (counted once).
        """
        finished_at = fields.pop("finished_at", utcnow())
        finish = (
            sa.update(Run)
            .where(col(Run.id) == run_id, col(Run.status).in_(_ACTIVE))
            .values(status=status.value, finished_at=finished_at, **fields)
            .returning(Run)
            .execution_options(synchronize_session=False)
        )
        with self._db.session() as s:
            run = s.scalars(finish).one_or_none()
            if run is None:
                s.rollback()
                return None
            count_finished_run(s, run.pipeline_name, status)
            s.commit()
            return run

    def cancel_pending(self, run_id: str, error: str | None = None) -> bool:
        """Cancel a run that has not started; False when it is no longer PENDING."""
        with self._db.session() as s:
            res = s.execute(
                sa.update(Run)
                .where(col(Run.id) == run_id, col(Run.status) == RunStatus.PENDING.value)
                .values(
                    status=RunStatus.CANCELLED.value,
                    finished_at=utcnow(),
                    cancel_requested=True,
                    error_message=error,
                )
            )
            s.commit()
            return bool(res.rowcount == 1)  # type: ignore[attr-defined]

    def count_active(self) -> int:
        with self._db.session() as s:
            return int(
                s.exec(
                    select(func.count()).select_from(Run).where(col(Run.status).in_(_ACTIVE))
                ).one()
            )

    def active_for(self, pipeline: str) -> list[Run]:
        """PENDING and RUNNING runs of one pipeline."""
        with self._db.session() as s:
            return list(
                s.exec(
                    select(Run).where(
                        col(Run.pipeline_name) == pipeline, col(Run.status).in_(_ACTIVE)
                    )
                ).all()
            )

    def count_by_status(self) -> dict[str, int]:
        """How many runs are in each state (for /metrics)."""
        with self._db.session() as s:
            rows = s.exec(select(Run.status, func.count()).group_by(col(Run.status))).all()
        return {status: int(n) for status, n in rows}

    def with_status(self, status: RunStatus) -> list[Run]:
        with self._db.session() as s:
            return list(s.exec(select(Run).where(col(Run.status) == status.value)).all())

    def latest_by_pipeline(self) -> dict[str, Run]:
        """The most recent run of each pipeline (for listings)."""
        with self._db.session() as s:
            newest = (
                select(Run.pipeline_name, func.max(Run.created_at).label("mx"))
                .group_by(col(Run.pipeline_name))
                .subquery()
            )
            rows = s.exec(
                select(Run).join(
                    newest,
                    sa.and_(
                        col(Run.pipeline_name) == newest.c.pipeline_name,
                        col(Run.created_at) == newest.c.mx,
                    ),
                )
            ).all()
        return {r.pipeline_name: r for r in rows}

    def running_counts(self) -> dict[str, int]:
        with self._db.session() as s:
            rows = s.exec(
                select(Run.pipeline_name, func.count())
                .where(col(Run.status) == RunStatus.RUNNING.value)
                .group_by(col(Run.pipeline_name))
            ).all()
        return {name: int(n) for name, n in rows}


def _claim(which: Any, worker: str) -> Any:
    """The claim of the runs `which` selects: PENDING → RUNNING for `worker`, the claimed
    rows returned. The status guard makes it safe against a concurrent cancel or claimer."""
    return (
        sa.update(Run)
        .where(which, col(Run.status) == RunStatus.PENDING.value)
        .values(status=RunStatus.RUNNING.value, started_at=utcnow(), worker=worker, progress=0)
        .returning(Run)
        .execution_options(synchronize_session=False)
    )
