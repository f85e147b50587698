"""The `fastflow` command: serve, db upgrade, user management."""

from __future__ import annotations

import logging
import sys
from typing import Annotated

import typer

from fastflow.errors import FastflowError
from fastflow.models import Role
from fastflow.settings import Settings, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
user_app = typer.Typer(no_args_is_help=True, help="User accounts.")
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except FastflowError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(2) from None


def _setup_logging() -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [env FASTFLOW_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env FASTFLOW_PORT]")] = None,
) -> None:
    """Run the server: API, dispatcher and executor in one process."""
    import uvicorn

    from fastflow.api.app import create_app

    settings = _settings(FASTFLOW_HOST=host, FASTFLOW_PORT=port)
    _setup_logging()
    try:
        application = create_app(settings)
    except FastflowError as exc:
        typer.echo(f"fastflow: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"fastflow: pipelines from {settings.pipelines_dir}, data in {settings.data_dir}, "
        f"http://{settings.host}:{settings.port}/docs",
        err=True,
    )
    uvicorn.run(application, host=settings.host, port=settings.port, log_level="info")


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Runs at once")] = 2,
    queues: Annotated[
        str | None, typer.Option(help="Comma-separated queues [default: CELERY_QUEUE]")
    ] = None,
) -> None:
    """Run a Celery worker that executes runs of a server with DISPATCHER=celery."""
    from fastflow.worker.main import run_worker

    settings = _settings()
    _setup_logging()
    names = [q.strip() for q in (queues or settings.default_queue).split(",") if q.strip()]
    if not names:
        typer.echo("fastflow: --queues names no queue", err=True)
        raise typer.Exit(2)
    try:
        run_worker(settings, concurrency, names)
    except ValueError as exc:
        typer.echo(f"fastflow: {exc}", err=True)
        raise typer.Exit(2) from None


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (the server also does this on start)."""
    from fastflow.storage.database import Database
    from fastflow.storage.db import current_revision

    settings = _settings()
    db = Database(settings.sqlalchemy_url)
    db.migrate()
    typer.echo(f"database at revision {current_revision(db.engine)}")
    db.dispose()


def _auth_service(settings: Settings):  # type: ignore[no-untyped-def]
    from fastflow.services import build_services

    services = build_services(settings)
    services.db.migrate()
    return services


@user_app.command("create")
def user_create(
    username: str,
    role: Annotated[Role, typer.Option(help="admin, operator or viewer")] = Role.VIEWER,
    password: Annotated[
        str | None, typer.Option(help="Asked for when not given", show_default=False)
    ] = None,
    reset: Annotated[bool, typer.Option(help="Set a new password for an existing user")] = False,
) -> None:
    """Create a user (or reset the password of one with --reset)."""
    from fastflow.auth.passwords import hash_password

    settings = _settings()
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    services = _auth_service(settings)
    try:
        if reset:
            if len(password) < 8:
                raise FastflowError("password must be at least 8 characters")
            services.users.set_password(username, hash_password(password))
            typer.echo(f"password of {username!r} changed")
        else:
            services.auth.create_user(username, password, role)
            typer.echo(f"created {role.value} {username!r}")
    except FastflowError as exc:
        typer.echo(f"fastflow: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        services.db.dispose()


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
