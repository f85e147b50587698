"""Options every command that talks to a server shares, and how its errors are reported."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from fastflow.cli import profile
from fastflow.cli.client import Api, ClientError

ServerUrl = Annotated[
    str | None,
    typer.Option(
        "--url",
        envvar="FASTFLOW_URL",
        metavar="URL",
        help=f"The fastflow server [default: the one you logged in to, else {profile.DEFAULT_URL}]",
        show_default=False,
        show_envvar=True,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="FASTFLOW_TOKEN",
        metavar="TOKEN",
        help="An API token or login token [default: the one `fastflow login` saved]",
        show_default=False,
        show_envvar=True,
    ),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the server's JSON instead of a table")]


def connect(url: str | None, token: str | None, need_token: bool = True) -> Api:
    """A client for the server named by the flags, the environment or the saved login."""
    return Api(profile.resolve(url, token), need_token=need_token)


@contextmanager
def reporting() -> Iterator[None]:
    """ClientError → `fastflow: <what happened>` on stderr and its exit code, no traceback."""
    try:
        yield
    except ClientError as exc:
        typer.echo(f"fastflow: {exc}", err=True)
        raise typer.Exit(exc.code) from None
