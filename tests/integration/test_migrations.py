"""The migrations produce exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

import fastflow.records  # noqa: F401
from fastflow.storage.db import create_db_engine, upgrade


def test_migrated_schema_matches_models(db_url: str) -> None:
    engine = create_db_engine(db_url)
    upgrade(engine)  # idempotent on an already migrated database
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    engine.dispose()
    assert diff == []
