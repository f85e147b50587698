"""What both database engines share: the schema revision and the counts a manifest lists."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Connection, Engine

# Tables whose rows a manifest counts (those an older schema lacks are left out).
_COUNTED = ("users", "api_tokens", "schedules", "secrets", "uploads", "artifacts")


@dataclass(frozen=True)
class DbCopy:
    """A consistent copy of the database, and what it held when it was taken."""

    revision: str | None
    counts: dict[str, int]


def revision(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def counts(conn: Connection) -> dict[str, int]:
    """Rows per table, and runs per status (`runs_running` …), as `conn` sees them."""
    tables = set(sa.inspect(conn).get_table_names())
    out: dict[str, int] = {}
    if "runs" in tables:
        by_status = conn.execute(sa.text("SELECT status, count(*) FROM runs GROUP BY status"))
        for status, n in by_status:
            out[f"runs_{str(status).lower()}"] = int(n)
        out["runs"] = sum(out.values())
    for table in _COUNTED:
        if table in tables:
            out[table] = int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())  # noqa: S608
    return out


def table_names(engine: Engine) -> list[str]:
    return sorted(sa.inspect(engine).get_table_names())


def drop_all_tables(engine: Engine) -> None:
    """Remove every table of the target database (`restore --force`)."""
    meta = sa.MetaData()
    meta.reflect(engine)
    meta.drop_all(engine)
