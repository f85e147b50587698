"""`fastflow user …`: accounts in this installation's database (run where the server runs)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated

import typer

from fastflow.cli.help import command, new_app
from fastflow.cli.local import fail, require_database, settings
from fastflow.errors import FastflowError
from fastflow.models import Role

if TYPE_CHECKING:
    from fastflow.services import Services

user_app = new_app(
    "User accounts of the installation here.\n\nRun these where the server runs: they use "
    "its DATA_DIR or DATABASE_URL (environment or .env)."
)

Password = Annotated[
    str | None,
    typer.Option(metavar="PASSWORD", help="Asked for when not given", show_default=False),
]


def _services() -> Services:
    from fastflow.services import build_services

    current = settings()
    require_database(current)
    try:
        services = build_services(current)
    except FastflowError as exc:  # a setting that cannot be used (e.g. half the SSO settings)
        fail(exc.message, 2)
    services.db.migrate()
    return services


@command(user_app, "create")
def user_create(
    username: Annotated[str, typer.Argument(metavar="USERNAME", help="The account's name")],
    role: Annotated[Role, typer.Option(help="What the user may do")] = Role.VIEWER,
    password: Password = None,
    reset: Annotated[
        bool, typer.Option("--reset", help="Set a new password for an existing user")
    ] = False,
) -> None:
    """Create a user (or reset the password of one with --reset)."""
    from fastflow.auth.passwords import hash_password

    require_database(settings())
    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    services = _services()
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
        fail(exc.message)
    finally:
        services.db.dispose()


@command(user_app, "list")
def user_list(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")] = False,
) -> None:
    """List users with role and state."""
    services = _services()
    try:
        users = services.users.all()
    finally:
        services.db.dispose()
    rows = []
    for user in users:
        state = "disabled" if user.disabled else "active"
        kind = "sso" if user.is_sso else "break-glass" if user.break_glass else "local"
        last = user.last_login_at.isoformat(timespec="seconds") if user.last_login_at else None
        rows.append((user.username, user.role, state, kind, last))
    if as_json:
        keys = ("username", "role", "state", "kind", "last_login_at")
        typer.echo(json.dumps([dict(zip(keys, row, strict=True)) for row in rows], indent=2))
        return
    for name, role, state, kind, last in rows:
        typer.echo(f"{name}\t{role}\t{state}\t{kind}\tlast login {last or '-'}")


@command(user_app, "break-glass")
def user_break_glass(
    username: Annotated[
        str | None, typer.Argument(metavar="USERNAME", help="A local account (made if missing)")
    ] = None,
    password: Password = None,
    clear: Annotated[bool, typer.Option("--clear", help="Name no break-glass admin")] = False,
) -> None:
    """Name the one admin whose password works even when FASTFLOW_LOCAL_LOGIN=false."""
    from fastflow.auth.passwords import hash_password

    if clear == (username is not None):
        fail("give a USERNAME, or --clear", 2)
    require_database(settings())
    if username is not None and password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    services = _services()
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
        fail(exc.message)
    finally:
        services.db.dispose()


@command(user_app, "link-sso")
def user_link_sso(
    username: Annotated[str, typer.Argument(metavar="USERNAME", help="An existing account")],
    subject: Annotated[
        str,
        typer.Option(metavar="SUB", help="The provider's `sub` for the person (see the log)"),
    ],
    issuer: Annotated[
        str | None,
        typer.Option(metavar="URL", help="Default: FASTFLOW_OIDC_ISSUER", show_default=False),
    ] = None,
) -> None:
    """Let an SSO identity sign in as an existing account (its password stops working)."""
    current = settings()
    issuer = (issuer or current.oidc_issuer or "").strip().rstrip("/")
    if not issuer:
        fail("give --issuer, or set FASTFLOW_OIDC_ISSUER", 2)
    services = _services()
    try:
        user = services.users.link_sso(username, issuer, subject)
        typer.echo(f"{user.username!r} now signs in with SSO as {subject!r} of {issuer}")
    except FastflowError as exc:
        fail(exc.message)
    finally:
        services.db.dispose()


@command(user_app, "disable")
def user_disable(
    username: Annotated[str, typer.Argument(metavar="USERNAME", help="The account")],
    enable: Annotated[bool, typer.Option("--enable", help="Enable the user again instead")] = False,
) -> None:
    """Disable a user: their sessions and API tokens stop working at once."""
    services = _services()
    try:
        services.users.update(username, disabled=not enable)
        typer.echo(f"{'enabled' if enable else 'disabled'} {username!r}")
    except FastflowError as exc:
        fail(exc.message)
    finally:
        services.db.dispose()
