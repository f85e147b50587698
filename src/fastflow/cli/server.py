"""Commands that run or maintain a server installation: serve, worker, db upgrade, cleanup."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from fastflow.cli.help import command, new_app
from fastflow.cli.local import fail, settings
from fastflow.errors import FastflowError

if TYPE_CHECKING:
    from fastflow.settings import Settings

db_app = new_app("Database schema.")


def _setup_logging(current: Settings) -> None:
    from fastflow.monitoring.logs import setup_logging

    setup_logging(current.log_format)


def _private_files() -> None:
    """Files the server creates (database, WAL, logs, metrics, uploads, keys) are its own:
    nobody else on the machine may read them. What runs of another user must read is
    opened up on purpose (environments, unpacked pipeline code)."""
    os.umask(0o077)


def serve(
    host: Annotated[
        str | None,
        typer.Option(metavar="ADDRESS", help="Bind address [env FASTFLOW_HOST; default 127.0.0.1]"),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(metavar="PORT", help="Port [env FASTFLOW_PORT; default 8000]"),
    ] = None,
) -> None:
    """Run the server: API, console, schedules and runs."""
    from fastflow.extras import check_settings

    current = settings(FASTFLOW_HOST=host, FASTFLOW_PORT=port)
    try:
        check_settings(current)  # before the slow imports: a missing extra says so at once
    except FastflowError as exc:
        fail(exc.message, 2)
    import uvicorn

    from fastflow.api import log_redaction
    from fastflow.server import create_app

    _setup_logging(current)
    _private_files()
    try:
        application = create_app(current)
        # A wrong ENCRYPTION_KEY stops here with one clear line, before the port opens.
        application.state.services.preflight()
    except FastflowError as exc:
        fail(exc.message, 2)
    where = f"http://{current.host}:{current.port}"
    front = f"console on {where}/" if current.ui_enabled else f"API docs on {where}/docs"
    typer.echo(
        f"fastflow: pipelines from {current.pipelines_dir}, data in {current.data_dir}, {front}",
        err=True,
    )
    config = uvicorn.Config(
        application,
        host=current.host,
        port=current.port,
        log_level="info",
        proxy_headers=True,
        # No log config of uvicorn's own: its loggers go through ours (JSON with LOG_FORMAT=json).
        log_config=None,
        forwarded_allow_ips=current.forwarded_allow_ips,
    )
    server = uvicorn.Server(config)
    log_redaction.install()  # after uvicorn configured its loggers
    server.run()


def worker(
    concurrency: Annotated[int, typer.Option(min=1, metavar="N", help="Runs at once")] = 2,
    queues: Annotated[
        str | None,
        typer.Option(metavar="NAMES", help="Comma-separated queues [default: CELERY_QUEUE's]"),
    ] = None,
) -> None:
    """Run a worker for a server with DISPATCHER=celery."""
    from fastflow.extras import CELERY, DOCKER, require
    from fastflow.settings import ExecutorKind

    current = settings()
    # Without the docker extra a worker still runs local runs (docker runs fail, saying so).
    try:
        require("fastflow worker", CELERY)
        if current.executor is ExecutorKind.DOCKER:
            require("EXECUTOR=docker", DOCKER)
    except FastflowError as exc:
        fail(exc.message, 2)
    from fastflow.worker.main import run_worker

    _setup_logging(current)
    _private_files()
    names = [q.strip() for q in (queues or current.default_queue).split(",") if q.strip()]
    if not names:
        fail("--queues names no queue", 2)
    try:
        run_worker(current, concurrency, names)
    except ValueError as exc:
        fail(str(exc), 2)
    except FastflowError as exc:
        fail(exc.message, 2)


@command(db_app, "upgrade")
def db_upgrade() -> None:
    """Apply database migrations (the server also does this on start)."""
    from fastflow.storage.database import Database
    from fastflow.storage.db import current_revision

    current = settings()
    db = Database(current.sqlalchemy_url)
    db.migrate()
    typer.echo(f"database at revision {current_revision(db.engine)}")
    db.dispose()


def cleanup(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be removed")
    ] = False,
) -> None:
    """Apply the log retention now and remove leftover work folders.

    What goes: runs past LOG_RETENTION_RUNS / LOG_RETENTION_DAYS, and work folders of
    runs that no longer run."""
    from fastflow.services import build_services

    current = settings()
    services = build_services(current)
    try:
        services.db.migrate()
        report = services.cleanup.run_once(dry_run=dry_run)
    except FastflowError as exc:
        fail(exc.message, 1)
    finally:
        services.db.dispose()
    if dry_run:
        for run_id in report.runs:
            typer.echo(f"run {run_id}")
        for path in report.leftover_paths:
            typer.echo(f"path {path}")
    typer.echo(report.summary())
