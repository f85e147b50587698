"""The `fastflow` command: serve, run and logs, db upgrade, user management, backup and restore."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from fastflow.cli_backup import backup_command, restore_command
from fastflow.errors import FastflowError
from fastflow.models import Role
from fastflow.settings import Settings, load_settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
user_app = typer.Typer(no_args_is_help=True, help="User accounts.")
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.command("backup")(backup_command)
app.command("restore")(restore_command)


def _settings(**overrides: object) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except FastflowError as exc:
        typer.echo(exc.message, err=True)
        raise typer.Exit(2) from None


def _setup_logging(settings: Settings) -> None:
    from fastflow.monitoring.logs import setup_logging

    setup_logging(settings.log_format)


def _private_files() -> None:
    """Files the server creates (database, WAL, logs, metrics, uploads, keys) are its own:
    nobody else on the machine may read them. What runs of another user must read is
    opened up on purpose (environments, unpacked pipeline code)."""
    os.umask(0o077)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address [env FASTFLOW_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="Port [env FASTFLOW_PORT]")] = None,
) -> None:
    """Run the server: API, dispatcher and executor in one process."""
    import uvicorn

    from fastflow.api import log_redaction
    from fastflow.server import create_app

    settings = _settings(FASTFLOW_HOST=host, FASTFLOW_PORT=port)
    _setup_logging(settings)
    _private_files()
    try:
        application = create_app(settings)
        # A wrong ENCRYPTION_KEY stops here with one clear line, before the port opens.
        application.state.services.preflight()
    except FastflowError as exc:
        typer.echo(f"fastflow: {exc.message}", err=True)
        raise typer.Exit(2) from None
    typer.echo(
        f"fastflow: pipelines from {settings.pipelines_dir}, data in {settings.data_dir}, "
        f"http://{settings.host}:{settings.port}/docs",
        err=True,
    )
    config = uvicorn.Config(
        application,
        host=settings.host,
        port=settings.port,
        log_level="info",
        proxy_headers=True,
        # No log config of uvicorn's own: its loggers go through ours (JSON with LOG_FORMAT=json).
        log_config=None,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
    server = uvicorn.Server(config)
    log_redaction.install()  # after uvicorn configured its loggers
    server.run()


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
    _setup_logging(settings)
    _private_files()
    names = [q.strip() for q in (queues or settings.default_queue).split(",") if q.strip()]
    if not names:
        typer.echo("fastflow: --queues names no queue", err=True)
        raise typer.Exit(2)
    try:
        run_worker(settings, concurrency, names)
    except ValueError as exc:
        typer.echo(f"fastflow: {exc}", err=True)
        raise typer.Exit(2) from None
    except FastflowError as exc:
        typer.echo(f"fastflow: {exc.message}", err=True)
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


@app.command()
def cleanup(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would be removed")
    ] = False,
) -> None:
    """Apply LOG_RETENTION_RUNS / LOG_RETENTION_DAYS now and remove leftover work folders."""
    from fastflow.services import build_services

    settings = _settings()
    services = build_services(settings)
    try:
        services.db.migrate()
        report = services.cleanup.run_once(dry_run=dry_run)
    except FastflowError as exc:
        typer.echo(f"fastflow: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        services.db.dispose()
    if dry_run:
        for run_id in report.runs:
            typer.echo(f"run {run_id}")
        for path in report.leftover_paths:
            typer.echo(f"path {path}")
    typer.echo(report.summary())


def _auth_service(settings: Settings):  # type: ignore[no-untyped-def]
    from fastflow.services import build_services

    try:
        services = build_services(settings)
    except FastflowError as exc:  # a setting that cannot be used (e.g. half the SSO settings)
        typer.echo(f"fastflow: {exc.message}", err=True)
        raise typer.Exit(2) from None
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
            found = services.users.by_username(username)
            if found is not None and found.is_sso:
                raise FastflowError(f"{found.username!r} signs in with SSO and has no password")
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


@user_app.command("list")
def user_list() -> None:
    """List users with role and state."""
    settings = _settings()
    services = _auth_service(settings)
    try:
        for user in services.users.all():
            state = "disabled" if user.disabled else "active"
            kind = "sso" if user.is_sso else "break-glass" if user.break_glass else "local"
            last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else "-"
            typer.echo(f"{user.username}\t{user.role}\t{state}\t{kind}\tlast login {last}")
    finally:
        services.db.dispose()


@user_app.command("break-glass")
def user_break_glass(
    username: Annotated[
        str | None, typer.Argument(help="A local account (made if missing)")
    ] = None,
    password: Annotated[
        str | None, typer.Option(help="Asked for when not given", show_default=False)
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Name no break-glass admin")] = False,
) -> None:
    """Name the one admin whose password works even when FASTFLOW_LOCAL_LOGIN=false."""
    from fastflow.auth.passwords import hash_password

    if clear == (username is not None):
        typer.echo("fastflow: give a USERNAME, or --clear", err=True)
        raise typer.Exit(2)
    settings = _settings()
    if username is not None and password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    services = _auth_service(settings)
    try:
        if username is None or password is None:
            services.users.set_break_glass(None)
            typer.echo("no break-glass admin: with password login off, only SSO and API tokens")
            return
        user = services.users.by_username(username)
        if user is None:
            user = services.auth.create_user(username, password, Role.ADMIN)
        elif user.is_sso:
            raise FastflowError(f"{user.username!r} signs in with SSO; name a local account")
        else:
            if len(password) < 8:
                raise FastflowError("password must be at least 8 characters")
            services.users.set_password(user.username, hash_password(password))
            services.users.update(user.username, role=Role.ADMIN)
        services.users.set_break_glass(user.username)
        typer.echo(
            f"{user.username!r} is the break-glass admin: with FASTFLOW_LOCAL_LOGIN=false it "
            "logs in at /login?break_glass=1 (or POST /api/auth/login)"
        )
    except FastflowError as exc:
        typer.echo(f"fastflow: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        services.db.dispose()


@user_app.command("link-sso")
def user_link_sso(
    username: str,
    subject: Annotated[str, typer.Option(help="The provider's `sub` for the person (see log)")],
    issuer: Annotated[
        str | None, typer.Option(help="Default: FASTFLOW_OIDC_ISSUER", show_default=False)
    ] = None,
) -> None:
    """Let an SSO identity sign in as an existing account (its password stops working)."""
    settings = _settings()
    issuer = (issuer or settings.oidc_issuer or "").strip().rstrip("/")
    if not issuer:
        typer.echo("fastflow: give --issuer, or set FASTFLOW_OIDC_ISSUER", err=True)
        raise typer.Exit(2)
    services = _auth_service(settings)
    try:
        user = services.users.link_sso(username, issuer, subject)
        typer.echo(f"{user.username!r} now signs in with SSO as {subject!r} of {issuer}")
    except FastflowError as exc:
        typer.echo(f"fastflow: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        services.db.dispose()


@user_app.command("disable")
def user_disable(
    username: str,
    enable: Annotated[bool, typer.Option(help="Enable the user again instead")] = False,
) -> None:
    """Disable a user: their sessions and API tokens stop working at once."""
    settings = _settings()
    services = _auth_service(settings)
    try:
        services.users.update(username, disabled=not enable)
        typer.echo(f"{'enabled' if enable else 'disabled'} {username!r}")
    except FastflowError as exc:
        typer.echo(f"fastflow: {exc.message}", err=True)
        raise typer.Exit(1) from None
    finally:
        services.db.dispose()


ServerUrl = Annotated[
    str,
    typer.Option("--url", envvar="FASTFLOW_URL", help="The fastflow server [env FASTFLOW_URL]"),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="FASTFLOW_TOKEN",
        help="API token [env FASTFLOW_TOKEN]",
        show_default=False,
    ),
]


@app.command("run")
def run_command(
    name: Annotated[str, typer.Argument(help="Pipeline name")],
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="key=value; repeat for more")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Print the run's lines live; exit with its code")
    ] = False,
    url: ServerUrl = "http://127.0.0.1:8000",
    token: Token = None,
) -> None:
    """Start a run on a server; with --follow, print its lines and exit with its exit code."""
    from fastflow import cli_client as cc

    try:
        params = cc.parse_params(param or [])
        with cc.connect(url, token) as client:
            run = cc.start_run(client, name, params)
            if not follow:
                typer.echo(run["id"])
                return
            typer.echo(f"fastflow: run {run['id']} of {name}", err=True)
            code = cc.Follower(client, run["id"]).follow()
    except cc.ClientError as exc:
        typer.echo(f"fastflow: {exc}", err=True)
        raise typer.Exit(exc.code) from None
    raise typer.Exit(code)


@app.command("logs")
def logs_command(
    run_id: Annotated[str, typer.Argument(help="Run id")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the run completes")
    ] = False,
    url: ServerUrl = "http://127.0.0.1:8000",
    token: Token = None,
) -> None:
    """Print a run's log; with --follow, stream it live and exit with the run's exit code."""
    from fastflow import cli_client as cc

    try:
        with cc.connect(url, token) as client:
            if not follow:
                cc.print_logs(client, run_id)
                return
            code = cc.Follower(client, run_id).follow()
    except cc.ClientError as exc:
        typer.echo(f"fastflow: {exc}", err=True)
        raise typer.Exit(exc.code) from None
    raise typer.Exit(code)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
