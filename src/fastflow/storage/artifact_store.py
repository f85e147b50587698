"""ArtifactStore: the rows describing artifacts kept with runs (the bytes live elsewhere)."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import col, select

from fastflow.errors import NotFoundError
from fastflow.records import Artifact
from fastflow.storage.database import Database


class ArtifactStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def add_all(self, artifacts: Sequence[Artifact]) -> None:
        if not artifacts:
            return
        with self._db.session() as s:
            for artifact in artifacts:
                s.merge(artifact)  # a re-recorded run (recovery) overwrites, never duplicates
            s.commit()

    def of_run(self, run_id: str) -> list[Artifact]:
        with self._db.session() as s:
            rows = s.exec(
                select(Artifact).where(col(Artifact.run_id) == run_id).order_by(col(Artifact.path))
            ).all()
        return list(rows)

    def get(self, run_id: str, path: str) -> Artifact:
        with self._db.session() as s:
            row = s.get(Artifact, (run_id, path))
        if row is None:
            raise NotFoundError(f"run {run_id} has no artifact {path!r}")
        return row

    def delete_for_runs(self, run_ids: Sequence[str]) -> int:
        if not run_ids:
            return 0
        with self._db.session() as s:
            res = s.execute(sa.delete(Artifact).where(col(Artifact.run_id).in_(list(run_ids))))
            s.commit()
            return int(res.rowcount)  # type: ignore[attr-defined]
