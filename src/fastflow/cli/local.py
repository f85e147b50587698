"""What the commands that work on this machine's installation share: settings, one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import typer

if TYPE_CHECKING:  # imported when a command needs them: `fastflow runs ls` stays quick
    from fastflow.settings import Settings


def fail(message: str, code: int = 1) -> NoReturn:
    """Print `fastflow: <message>` on stderr and exit with `code`."""
    typer.echo(f"fastflow: {message}", err=True)
    raise typer.Exit(code)


def settings(**overrides: object) -> Settings:
    """The installation's settings (environment, .env); an invalid one ends the command."""
    from fastflow.errors import FastflowError
    from fastflow.settings import load_settings

    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except FastflowError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(2) from None


def missing_sqlite_file(settings: Settings) -> Path | None:
    """The SQLite file the settings name when it does not exist yet; None otherwise."""
    from sqlalchemy.engine import make_url

    url = make_url(settings.sqlalchemy_url)
    if not url.drivername.startswith("sqlite") or not url.database:
        return None
    if url.database == ":memory:" or url.database.startswith("file:"):
        return None
    path = Path(url.database)
    return None if path.exists() else path


def require_database(settings: Settings) -> None:
    """End the command when there is no database where the settings point.

    Commands that manage an installation (users) must not create an empty database in
    whatever folder they were started in: the server would never see what they wrote."""
    path = missing_sqlite_file(settings)
    if path is None:
        return
    shown = path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path
    fail(
        f"no fastflow database here ({shown} does not exist).\n"
        "Run this in the server's folder, or set DATA_DIR or DATABASE_URL as the server "
        "has them; `fastflow db upgrade` makes a new, empty database.",
        2,
    )
