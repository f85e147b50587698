"""fastflow: run pipelines on a server, watch them live, and look back at them.

Start with `fastflow serve` on the server, then `fastflow login` where you work.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fastflow import __version__
from fastflow.cli import listings, remote, server
from fastflow.cli.backup import backup_command, restore_command
from fastflow.cli.help import command, new_app
from fastflow.cli.users import user_app
from fastflow.errors import MissingExtraError

app = new_app(__doc__ or "", add_completion=True)


def _version(show: bool) -> None:
    if show:
        typer.echo(f"fastflow {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", callback=_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    """fastflow: run pipelines on a server, watch them live, and look back at them.

    Start with `fastflow serve` on the server, then `fastflow login` where you work."""


# Working with a server, in the order a person meets them.
command(app, "login")(remote.login)
command(app, "logout")(remote.logout)
command(app, "run")(remote.run)
command(app, "logs")(remote.logs)
app.add_typer(listings.pipelines_app, name="pipelines")
app.add_typer(listings.runs_app, name="runs")
# Running and maintaining an installation.
command(app, "serve")(server.serve)
command(app, "worker")(server.worker)
app.add_typer(server.db_app, name="db")
app.add_typer(user_app, name="user")
command(app, "cleanup")(server.cleanup)
command(app, "backup")(backup_command)
command(app, "restore")(restore_command)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
    except MissingExtraError as exc:
        # A command reached an optional part that is not installed: one line, no traceback.
        typer.echo(f"fastflow: {exc.message}", err=True)
        sys.exit(2)
