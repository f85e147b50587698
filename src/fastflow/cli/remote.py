"""`fastflow login`, `logout`, `run` and `logs`: the CLI as a client of a fastflow server."""

from __future__ import annotations

import getpass
import json
import sys
from typing import Annotated, Any

import typer

from fastflow.cli import profile
from fastflow.cli.client import Api, ClientError
from fastflow.cli.follow import Follower, print_log
from fastflow.cli.options import AsJson, ServerUrl, Token, connect, reporting
from fastflow.cli.tables import as_json
from fastflow.cli.terminal import DIM, Screen


def parse_params(pairs: list[str], params_json: str | None) -> dict[str, Any]:
    """`--params '{json}'` first, then each `-p KEY=VALUE` on top of it."""
    params: dict[str, Any] = {}
    if params_json:
        try:
            given = json.loads(params_json)
        except ValueError as exc:
            raise ClientError(f"--params is not valid JSON: {exc}") from None
        if not isinstance(given, dict):
            raise ClientError("--params must be a JSON object, e.g. '{\"DAYS\": 3}'")
        params.update(given)
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ClientError(f"parameter {pair!r} must look like KEY=VALUE")
        params[key] = value
    return params


def follow_run(api: Api, run_id: str) -> int:
    """Print the run live until it ends; its exit code. Ctrl-C stops watching, not the run."""
    screen = Screen(sys.stdout, sys.stderr)
    try:
        return Follower(api, run_id, screen).follow()
    except KeyboardInterrupt:
        screen.close()
        screen.note(
            f"fastflow: stopped following; run {run_id} goes on "
            f"(stop it with `fastflow runs cancel {run_id}`)"
        )
        return 130


def _read_password(username: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"Password for {username}: ")
    line = sys.stdin.readline()
    return line.rstrip("\r\n")


def login(
    username: Annotated[
        str | None,
        typer.Option(metavar="NAME", help="Your account [asked for on a terminal]"),
    ] = None,
    url: ServerUrl = None,
) -> None:
    """Log in to a server; later commands use that login.

    The password is asked for on a terminal, and read from standard input otherwise
    (`fastflow login --username ci < password-file`). The login is kept in
    $XDG_CONFIG_HOME/fastflow/profile.json (~/.config/fastflow/), readable by you only."""
    with reporting():
        if username is None:
            if not sys.stdin.isatty():
                raise ClientError("give --username NAME (the password is read from stdin)")
            username = input("Username: ").strip()
        password = _read_password(username)
        if not password:
            raise ClientError("no password given")
        target = profile.Target(profile.resolve(url, None).url, None, from_profile=False)
        with Api(target, need_token=False) as api:
            answer = api.post("/api/auth/login", json={"username": username, "password": password})
        saved = profile.Profile(
            url=target.url,
            token=str(answer["access_token"]),
            username=str(answer.get("username", username)),
            expires_at=answer.get("expires_at"),
        )
        path = profile.save(saved)
        until = f" until {saved.expires_at[:16].replace('T', ' ')} UTC" if saved.expires_at else ""
        typer.echo(
            f"Logged in to {target.url} as {saved.username} ({answer.get('role', '?')}); "
            f"kept in {path}{until}."
        )


def logout() -> None:
    """End the saved login on its server and forget it here."""
    saved = profile.load()
    if saved is None:
        typer.echo("Not logged in: nothing to forget.")
        return
    target = profile.Target(saved.url, saved.token, from_profile=True)
    ended = True
    try:
        with Api(target) as api:
            api.post("/api/auth/logout")
    except ClientError as exc:
        # Expired or revoked already, or the server is away: forget it here all the same.
        ended = "no longer accepts" in str(exc)
        if not ended:
            typer.echo(f"fastflow: {str(exc).splitlines()[0]}", err=True)
    profile.forget()
    where = "" if ended else " (the server was not told)"
    typer.echo(f"Logged out of {saved.url}{where}.")


def run(
    name: Annotated[str, typer.Argument(metavar="PIPELINE", help="The pipeline to run")],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="KEY=VALUE", help="A parameter; repeat for more"),
    ] = None,
    params: Annotated[
        str | None,
        typer.Option("--params", metavar="JSON", help="Parameters as a JSON object; -p values win"),
    ] = None,
    follow: Annotated[
        bool,
        typer.Option("--follow", "-f", help="Print its lines live; exit with the run's code"),
    ] = False,
    as_json_: AsJson = False,
    url: ServerUrl = None,
    token: Token = None,
) -> None:
    """Start a run; with --follow, watch it live to its end.

    Following prints the run's stdout on stdout and its stderr on stderr, in the run's own
    order; on a terminal, stderr is red and the run's progress is a bar. It ends with one
    line: final state, exit code, duration and the console link; the exit code is the run's."""
    with reporting():
        values = parse_params(param or [], params)
        with connect(url, token) as api:
            started = api.post(f"/api/pipelines/{name}/run", json={"parameters": values})
            if not follow:
                typer.echo(as_json(started) if as_json_ else started["id"])
                return
            Screen(sys.stdout, sys.stderr).note(f"fastflow: run {started['id']} of {name}", DIM)
            code = follow_run(api, str(started["id"]))
    raise typer.Exit(code)


def logs(
    run_id: Annotated[str, typer.Argument(metavar="RUN_ID", help="The run")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the run ends")
    ] = False,
    url: ServerUrl = None,
    token: Token = None,
) -> None:
    """Print a run's log; with --follow, live to its end.

    The exit code is the run's: non-zero for a run that failed."""
    with reporting(), connect(url, token) as api:
        api.get(f"/api/runs/{run_id}")  # a clear 404 (or login error) before streaming
        if follow:
            code = follow_run(api, run_id)
        else:
            code = print_log(api, run_id, Screen(sys.stdout, sys.stderr))
    raise typer.Exit(code)
