"""PostgreSQL: `pg_dump` of one exported snapshot (the manifest's counts come from the same
snapshot), restored with `pg_restore` into an empty database."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from fastflow.backup.db_common import DbCopy, counts, drop_all_tables, revision, table_names
from fastflow.backup.errors import BackupError

_TIMEOUT = 6 * 3600.0


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not on PATH: backups of a PostgreSQL database need the PostgreSQL "
            "client tools (Debian/Ubuntu: postgresql-client) of the server's major version "
            "or newer"
        )
    return found


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and an environment that carries it."""
    parsed = sa.engine.make_url(url)
    uri = parsed.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return uri, env


def _run(argv: list[str], env: dict[str, str], what: str) -> None:
    try:
        proc = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackupError(f"{what} failed: {exc}") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        first = next((ln for ln in lines if "error" in ln.lower()), lines[0] if lines else "")
        raise BackupError(f"{what} failed (exit {proc.returncode}): {first}")


def snapshot(url: str, target: Path) -> DbCopy:
    """Dump the database in pg_dump's custom format, from a snapshot this process holds."""
    pg_dump = _tool("pg_dump")
    uri, env = _libpq(url)
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                snap = conn.execute(sa.text("SELECT pg_export_snapshot()")).scalar_one()
                copy = DbCopy(revision(conn), counts(conn))
                _run(
                    [
                        pg_dump,
                        "--format=custom",
                        "--no-owner",
                        "--no-privileges",
                        f"--snapshot={snap}",
                        f"--file={target}",
                        f"--dbname={uri}",
                    ],
                    env,
                    "pg_dump",
                )
    except sa.exc.SQLAlchemyError as exc:
        raise BackupError(
            f"reading the PostgreSQL database failed: {' '.join(str(exc.args[0]).split())}"
        ) from None
    finally:
        engine.dispose()
    return copy


def is_empty(url: str) -> bool:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        return not table_names(engine)
    except sa.exc.SQLAlchemyError as exc:
        raise BackupError(
            f"the PostgreSQL database cannot be reached: {' '.join(str(exc.args[0]).split())}"
        ) from None
    finally:
        engine.dispose()


def drop_all_tables_at(url: str) -> None:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        drop_all_tables(engine)
    finally:
        engine.dispose()


def check_tools() -> None:
    _tool("pg_restore")


def restore(dump: Path, url: str) -> None:
    """Load the dump into the (empty) database at `url`, all or nothing."""
    uri, env = _libpq(url)
    _run(
        [
            _tool("pg_restore"),
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            f"--dbname={uri}",
            str(dump),
        ],
        env,
        "pg_restore",
    )
