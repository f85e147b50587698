"""The `fastflow` client commands as a person uses them, through the real process against a
real server: login into a 0600 profile, listings and `--json`, cancel, and errors that are
one or two lines without a traceback."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from fastflow.cli import app
from tests.support.cli import cli_env, cli_server, fastflow
from tests.support.server import ADMIN_PASSWORD, LiveServer, free_port, wait_for_run


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cli_server(tmp_path_factory, "cli-client")


def in_process(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """The same command in this process (quicker): exit code, stdout, stderr."""
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def _short(result: str) -> None:
    """A person's error: one or two lines, `fastflow:` first, no traceback, no server path."""
    lines = result.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("fastflow: "), result
    assert "Traceback" not in result and "/tmp/" not in result, result


def test_login_keeps_a_private_profile_and_logout_ends_the_session(
    live: LiveServer, tmp_path: Path
) -> None:
    config = tmp_path / "config"
    env = cli_env(config)
    wrong = fastflow("login", "--url", live.url, "--username", "admin", env=env, stdin="nope\n")
    assert wrong.returncode == 2 and "invalid username or password" in wrong.stderr
    _short(wrong.stderr)
    assert not (config / "fastflow").exists()

    # Not a terminal: the password is read from standard input.
    done = fastflow(
        "login", "--url", live.url, "--username", "admin", env=env, stdin=ADMIN_PASSWORD + "\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"Logged in to {live.url} as admin (admin)")
    saved = config / "fastflow" / "profile.json"
    assert saved.stat().st_mode & 0o777 == 0o600
    assert (config / "fastflow").stat().st_mode & 0o777 == 0o700
    profile = json.loads(saved.read_text())
    assert profile["url"] == live.url and profile["username"] == "admin"

    # Later commands need neither --url nor --token.
    listed = fastflow("pipelines", "ls", env=env)
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"^hello +ready +", listed.stdout, re.M), listed.stdout
    # Pointed at another server, the CLI does not send it the profile's token.
    elsewhere = fastflow("runs", "ls", env=env | {"FASTFLOW_URL": "http://127.0.0.1:9"})
    assert elsewhere.returncode == 2
    assert "not logged in to http://127.0.0.1:9" in elsewhere.stderr

    out = fastflow("logout", env=env)
    assert out.returncode == 0 and out.stdout == f"Logged out of {live.url}.\n"
    assert not saved.exists()
    with httpx.Client(base_url=live.url) as api:
        headers = {"Authorization": f"Bearer {profile['token']}"}
        assert api.get("/api/auth/me", headers=headers).status_code == 401
    after = fastflow("runs", "ls", env=env)
    assert after.returncode == 2 and "fastflow login" in after.stderr


def test_listings_json_show_and_cancel(live: LiveServer, tmp_path: Path) -> None:
    env = cli_env(tmp_path, FASTFLOW_URL=live.url, FASTFLOW_TOKEN=live.login())
    pipelines = json.loads(fastflow("pipelines", "ls", "--json", env=env).stdout)
    assert {"hello", "sleeper", "counter"} <= {p["name"] for p in pipelines}

    started = fastflow("run", "sleeper", "-p", "SECONDS_TO_RUN=30", env=env)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    with live.client() as api:
        wait_for_run(api, run_id, statuses=["RUNNING"])
        cancelled = fastflow("runs", "cancel", run_id, env=env)
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout.startswith(f"run {run_id} ")
        assert wait_for_run(api, run_id)["status"] == "CANCELLED"

    table = fastflow("runs", "ls", "--pipeline", "sleeper", env=env)
    assert table.returncode == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["ID", "PIPELINE", "STATUS", "EXIT", "TRIGGER", "CREATED", "DURATION"]
    assert row.split()[:3] == [run_id, "sleeper", "CANCELLED"]
    listed = json.loads(
        fastflow("runs", "ls", "--status", "CANCELLED", "--limit", "5", "--json", env=env).stdout
    )
    assert [r["id"] for r in listed] == [run_id]

    # The rest in this process: the same code, without a new interpreter each.
    code, shown, _ = in_process("runs", "show", run_id, env=env)
    assert code == 0, shown
    assert re.search(r"^status: +CANCELLED", shown, re.M), shown
    assert re.search(r"^parameters: +SECONDS_TO_RUN=30$", shown, re.M)
    assert f"{live.url}/runs/{run_id}" in shown
    as_json = json.loads(in_process("runs", "show", run_id, "--json", env=env)[1])
    assert as_json["id"] == run_id and as_json["status"] == "CANCELLED"

    code, _, said = in_process("runs", "cancel", run_id, env=env)
    assert code == 2 and "already finished" in said
    _short(said)
    code, retried, said = in_process("runs", "retry", run_id, "--json", env=env)
    assert code == 0, said
    attempt = json.loads(retried)
    assert attempt["parent_run_id"] == run_id and attempt["trigger"] == "retry"
    assert in_process("runs", "cancel", attempt["id"], env=env)[0] == 0


def test_errors_are_a_line_or_two(live: LiveServer, tmp_path: Path) -> None:
    env = cli_env(tmp_path)
    nowhere = f"http://127.0.0.1:{free_port()}"
    unreachable = fastflow("runs", "ls", "--url", nowhere, "--token", "t", env=env)
    assert unreachable.returncode == 2
    _short(unreachable.stderr)
    assert f"cannot reach the fastflow server at {nowhere} (connection refused)" in (
        unreachable.stderr
    )
    assert "fastflow login" in unreachable.stderr

    bad_token = fastflow("runs", "ls", "--url", live.url, "--token", "not-a-token", env=env)
    assert bad_token.returncode == 2
    _short(bad_token.stderr)
    assert "the server refused the token" in bad_token.stderr

    env = cli_env(tmp_path, FASTFLOW_URL=live.url, FASTFLOW_TOKEN=live.login())
    code, _, missing = in_process("run", "no_such_pipeline", env=env)
    assert missing == "fastflow: pipeline 'no_such_pipeline' not found in the pipelines folder\n"
    code, _, undeclared = in_process("run", "hello", "-p", "NAMES=you", env=env)
    assert code == 2
    assert undeclared == (
        "fastflow: parameter 'NAMES' not declared by this pipeline; it takes: NAME\n"
    )
    for args, says in (
        (["run", "hello", "-p", "oops"], "must look like KEY=VALUE"),
        (["run", "hello", "--params", "[1]"], "--params must be a JSON object"),
        (["runs", "show", "nope"], "run 'nope' not found"),
    ):
        code, _, said = in_process(*args, env=env)
        assert code == 2 and says in said, (args, said)
        _short(said)
