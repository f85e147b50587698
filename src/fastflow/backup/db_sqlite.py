"""SQLite: a consistent copy through SQLite's online backup API, while the server writes."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from fastflow.backup.db_common import DbCopy, counts, revision, table_names
from fastflow.backup.errors import BackupError


def database_path(url: str) -> Path:
    path = sa.engine.make_url(url).database
    if not path or path == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(path)


def _summary(path: Path) -> DbCopy:
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return DbCopy(revision(conn), counts(conn))
    finally:
        engine.dispose()


def snapshot(url: str, target: Path) -> DbCopy:
    """Copy the database at `url` into `target` in one step of the backup API: a reader's
    snapshot, consistent however busy the server is. The copy is one self-contained file."""
    source = database_path(url)
    if not source.is_file():
        raise BackupError(f"there is no database at {source}: nothing to back up")
    try:
        with (
            closing(sqlite3.connect(source, timeout=30)) as src,
            closing(sqlite3.connect(target)) as dst,
        ):
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")
    except sqlite3.Error as exc:
        raise BackupError(f"copying the SQLite database {source} failed: {exc}") from None
    return _summary(target)


def is_empty(url: str) -> bool:
    path = database_path(url)
    if not path.exists() or path.stat().st_size == 0:
        return True
    engine = sa.create_engine(f"sqlite:///{path}", poolclass=NullPool)
    try:
        return not table_names(engine)
    finally:
        engine.dispose()


def staging_dir(url: str) -> Path:
    """Where the copy is unpacked before it replaces the database: beside it."""
    folder = database_path(url).parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def restore(copy: Path, url: str) -> None:
    """Put the unpacked copy in place of the database (files of an earlier one go)."""
    path = database_path(url)
    for stale in (Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")):
        stale.unlink(missing_ok=True)
    os.chmod(copy, 0o600)
    os.replace(copy, path)
