"""Real PostgreSQL and SQLite databases for tests: one migrated template, cloned per test.

Locally a missing PostgreSQL skips its tests with the reason; with FASTFLOW_CI=1 (set by
.ci/run) it fails them instead, so CI never passes by skipping.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from fastflow.storage.db import create_db_engine, upgrade

PG_ADMIN_URL = os.environ.get(
    "FASTFLOW_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("FASTFLOW_CI") == "1"


def service_missing(what: str, why: object) -> None:
    """Skip locally, fail in CI."""
    message = f"{what} is not reachable ({why})"
    if IN_CI:
        pytest.fail(message + " — CI must provide it")
    pytest.skip(message)


class PostgresTemplate:
    """A migrated template database; each test gets `CREATE DATABASE … TEMPLATE` of it."""

    def __init__(self) -> None:
        self.admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        self.name = f"fastflow_tmpl_{uuid.uuid4().hex[:8]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{self.name}"'))
        engine = create_db_engine(self._url(self.name))
        upgrade(engine)
        engine.dispose()
        self.created: list[str] = []

    def _url(self, db: str) -> str:
        return sa.engine.make_url(PG_ADMIN_URL).set(database=db).render_as_string(False)

    def clone(self) -> str:
        name = f"fastflow_t_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{self.name}"'))
        self.created.append(name)
        return self._url(name)

    def drop(self, url: str) -> None:
        name = sa.engine.make_url(url).database
        with self.admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        with self.admin.connect() as conn:
            for name in [*self.created, self.name]:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


class SqliteTemplate:
    """A migrated SQLite file; each test gets a copy."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "template.db"
        engine = create_db_engine(f"sqlite:///{self.path}")
        upgrade(engine)
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        engine.dispose()

    def clone(self, target: Path) -> str:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path, target)
        return f"sqlite:///{target}"


def postgres_template() -> Iterator[PostgresTemplate | None]:
    try:
        tmpl = PostgresTemplate()
    except sa.exc.OperationalError as exc:
        yield None
        _ = exc
        return
    try:
        yield tmpl
    finally:
        tmpl.close()


def passable_temp(factory: pytest.TempPathFactory, name: str) -> Path:
    """A temporary folder (pytest makes them 0700) that runs of the sandbox's OS user may
    pass through to their work dirs, as through the folders above a server's DATA_DIR."""
    folder = factory.mktemp(name)
    for path in (folder, folder.parent, folder.parent.parent):
        path.chmod(path.stat().st_mode | 0o011)
    return folder
