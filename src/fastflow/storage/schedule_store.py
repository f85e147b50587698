"""ScheduleStore: every query about schedules."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select

from fastflow.errors import NotFoundError
from fastflow.records import Schedule, utcnow
from fastflow.storage.database import Database

_SCHEDULES: sa.Table = SQLModel.metadata.tables[Schedule.__tablename__]
# Asked for every run that ends: built once (building it costs more than running it).
_ANY_QUEUED = (
    sa.select(_SCHEDULES.c.id)
    .where(
        _SCHEDULES.c.pipeline_name == sa.bindparam("pipeline"),
        _SCHEDULES.c.queued_at.is_not(None),
    )
    .limit(1)
)


class ScheduleStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, schedule: Schedule) -> Schedule:
        with self._db.session() as s:
            s.add(schedule)
            s.commit()
            return schedule

    def get(self, schedule_id: str) -> Schedule:
        with self._db.session() as s:
            row = s.get(Schedule, schedule_id)
        if row is None:
            raise NotFoundError(f"schedule {schedule_id!r} not found")
        return row

    def all(self, pipeline: str | None = None) -> list[Schedule]:
        query = select(Schedule).order_by(col(Schedule.created_at), col(Schedule.id))
        if pipeline is not None:
            query = query.where(col(Schedule.pipeline_name) == pipeline)
        with self._db.session() as s:
            return list(s.exec(query).all())

    def update(self, schedule_id: str, **fields: Any) -> Schedule:
        fields.setdefault("updated_at", utcnow())
        with self._db.session() as s:
            res = s.execute(
                sa.update(Schedule).where(col(Schedule.id) == schedule_id).values(**fields)
            )
            s.commit()
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFoundError(f"schedule {schedule_id!r} not found")
        return self.get(schedule_id)

    def record(self, schedule_id: str, **fields: Any) -> None:
        """Bookkeeping after a tick (no `updated_at`: the user did not change anything)."""
        with self._db.session() as s:
            s.execute(sa.update(Schedule).where(col(Schedule.id) == schedule_id).values(**fields))
            s.commit()

    def count_skip(self, schedule_id: str, message: str) -> None:
        with self._db.session() as s:
            s.execute(
                sa.update(Schedule)
                .where(col(Schedule.id) == schedule_id)
                .values(
                    skipped_count=col(Schedule.skipped_count) + 1,
                    last_outcome="skipped",
                    last_message=message,
                )
            )
            s.commit()

    def delete(self, schedule_id: str) -> None:
        with self._db.session() as s:
            res = s.execute(sa.delete(Schedule).where(col(Schedule.id) == schedule_id))
            s.commit()
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFoundError(f"schedule {schedule_id!r} not found")

    def any_queued(self, pipeline: str) -> bool:
        """Whether a schedule of `pipeline` holds a tick back: one plain SELECT on the table
        (no ORM objects), asked for every run that ends and usually false."""
        with self._db.engine.connect() as conn:
            return conn.execute(_ANY_QUEUED, {"pipeline": pipeline}).first() is not None

    def queued(self, pipeline: str) -> list[Schedule]:
        """Schedules of `pipeline` holding a tick back until its active run ends."""
        with self._db.session() as s:
            return list(
                s.exec(
                    select(Schedule).where(
                        col(Schedule.pipeline_name) == pipeline,
                        col(Schedule.queued_at).is_not(None),
                    )
                ).all()
            )
