"""RetentionStore: the queries of the clean-up — which finished runs a policy names, and
removing their rows. Runs that are not finished are never selected nor deleted."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import col, func, select

from fastflow.models import TERMINAL_STATUSES
from fastflow.records import Artifact, Run
from fastflow.storage.database import Database

_TERMINAL = tuple(s.value for s in TERMINAL_STATUSES)


class RetentionStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def older_than(self, cutoff: datetime, limit: int | None = None) -> list[str]:
        """Finished runs created before `cutoff`, oldest first."""
        query = (
            select(Run.id)
            .where(col(Run.created_at) < cutoff, col(Run.status).in_(_TERMINAL))
            .order_by(col(Run.created_at), col(Run.id))
            .limit(limit)
        )
        with self._db.session() as s:
            return list(s.exec(query).all())

    def beyond_newest(self, keep: int, limit: int | None = None) -> list[str]:
        """Finished runs that are not among the `keep` newest runs of their pipeline."""
        rank = (
            func.row_number()
            .over(
                partition_by=col(Run.pipeline_name),
                order_by=(col(Run.created_at).desc(), col(Run.id).desc()),
            )
            .label("rank")
        )
        ranked = select(col(Run.id).label("id"), col(Run.status).label("status"), rank).subquery()
        query = (
            select(ranked.c.id)
            .where(ranked.c.rank > keep, ranked.c.status.in_(_TERMINAL))
            .order_by(ranked.c.id)
            .limit(limit)
        )
        with self._db.session() as s:
            return [str(r) for r in s.exec(query).all()]

    def sources_in_use(self) -> set[str]:
        """The `source` of every run that is not finished (e.g. `upload:<id>`)."""
        with self._db.session() as s:
            rows = s.exec(
                select(Run.source).where(
                    col(Run.source).is_not(None), col(Run.status).not_in(_TERMINAL)
                )
            ).all()
        return {str(source) for source in rows}

    def statuses(self, run_ids: Iterable[str]) -> dict[str, str]:
        """The status of each of these runs that exists."""
        ids = list(run_ids)
        out: dict[str, str] = {}
        with self._db.session() as s:
            for start in range(0, len(ids), 500):
                rows = s.exec(
                    select(Run.id, Run.status).where(col(Run.id).in_(ids[start : start + 500]))
                ).all()
                out.update({run_id: status for run_id, status in rows})
        return out

    def delete_finished(self, run_ids: Sequence[str]) -> list[str]:
        """Delete these runs (and their artifact rows) if finished; returns the deleted ids."""
        if not run_ids:
            return []
        with self._db.session() as s:
            # Re-check the status in the same transaction: a row is deleted only if finished.
            doomed = list(
                s.exec(
                    select(Run.id).where(
                        col(Run.id).in_(list(run_ids)), col(Run.status).in_(_TERMINAL)
                    )
                ).all()
            )
            if doomed:
                s.execute(sa.delete(Artifact).where(col(Artifact.run_id).in_(doomed)))
                s.execute(
                    sa.delete(Run).where(col(Run.id).in_(doomed), col(Run.status).in_(_TERMINAL))
                )
            s.commit()
        return doomed
