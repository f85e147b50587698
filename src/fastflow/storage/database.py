"""The Database handle: one engine, short sessions, handed to the stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from fastflow.extras import require_for_database
from fastflow.storage.db import create_db_engine, upgrade


class Database:
    """Owns the engine; stores open a session per operation through `session()`."""

    def __init__(self, url: str) -> None:
        require_for_database(url)
        self.url = url
        self.engine: Engine = create_db_engine(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def migrate(self) -> None:
        upgrade(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        """Whether the database answers `SELECT 1` now."""
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception:
            return False
        return True
