"""SyncSettingsStore: the one row of git sync settings an admin set."""

from __future__ import annotations

from typing import Any

from fastflow.records import SyncSettingsRow, utcnow
from fastflow.storage.database import Database

_ROW_ID = 1


class SyncSettingsStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    def get(self) -> SyncSettingsRow:
        """The stored settings; a row of NULLs (the environment's values) if none were set."""
        with self._db.session() as s:
            row = s.get(SyncSettingsRow, _ROW_ID)
        return row if row is not None else SyncSettingsRow(id=_ROW_ID)

    def put(self, changes: dict[str, Any], by: str | None) -> SyncSettingsRow:
        """Set the given columns (None: back to the environment's value)."""
        with self._db.session() as s:
            row = s.get(SyncSettingsRow, _ROW_ID) or SyncSettingsRow(id=_ROW_ID)
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated_by = by
            row.updated_at = utcnow()
            s.add(row)
            s.commit()
            s.refresh(row)
            return row
