"""UploadStore: every query about uploaded build sources."""

from __future__ import annotations

from sqlmodel import col, func, select

from fastflow.errors import NotFoundError
from fastflow.records import Run, Upload
from fastflow.storage.database import Database


class UploadStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def create(self, upload: Upload) -> Upload:
        with self._db.session() as s:
            s.add(upload)
            s.commit()
            return upload

    def get(self, upload_id: str) -> Upload:
        with self._db.session() as s:
            row = s.get(Upload, upload_id)
        if row is None:
            raise NotFoundError(f"upload {upload_id!r} not found")
        return row

    def page(self, limit: int, offset: int) -> tuple[list[Upload], int]:
        """Newest first, and how many there are in all."""
        with self._db.session() as s:
            total = s.exec(select(func.count()).select_from(Upload)).one()
            rows = s.exec(
                select(Upload)
                .order_by(col(Upload.created_at).desc(), col(Upload.id).desc())
                .offset(offset)
                .limit(limit)
            ).all()
        return list(rows), int(total)

    def runs_of(self, source: str, limit: int = 20) -> list[Run]:
        """The newest runs started from one source (`upload:<id>`)."""
        with self._db.session() as s:
            rows = s.exec(
                select(Run)
                .where(col(Run.source) == source)
                .order_by(col(Run.created_at).desc(), col(Run.id).desc())
                .limit(limit)
            ).all()
        return list(rows)
