"""`fastflow run --follow` and `fastflow logs` as real subprocesses against a live server."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support.server import LiveServer


def fastflow(
    server: LiveServer, *args: str, token: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FASTFLOW_")}
    env["FASTFLOW_URL"] = server.url
    if token:
        env["FASTFLOW_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "fastflow", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_run_follow_prints_every_line_and_exits_with_the_run_code(server: LiveServer) -> None:
    token = server.login()
    # 3,000 lines at once are far over the default 100 lines/s: the CLI fills the gaps.
    done = fastflow(server, "run", "counter", "-p", "LINES=3000", "--follow", token=token)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(f"line {i}\n" for i in range(1, 3001))
    run_id = done.stderr.split("run ", 1)[1].split()[0]

    failed = fastflow(server, "run", "exit_code", "-p", "CODE=3", "-f", token=token)
    assert failed.returncode == 3, failed.stderr

    logs = fastflow(server, "logs", run_id, token=token)
    assert logs.returncode == 0 and logs.stdout == done.stdout
    again = fastflow(server, "logs", run_id, "--follow", token=token)
    assert again.returncode == 0 and again.stdout == done.stdout

    started = fastflow(server, "run", "hello", "-p", "NAME=cli", token=token)
    assert started.returncode == 0 and len(started.stdout.strip()) == 32


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_cli_errors_are_one_clear_line(server: LiveServer) -> None:
    no_token = fastflow(server, "run", "hello")
    assert no_token.returncode == 2 and "FASTFLOW_TOKEN" in no_token.stderr
    bad = fastflow(server, "logs", "nope", token="not-a-token")
    assert bad.returncode == 2 and "fastflow:" in bad.stderr and "Traceback" not in bad.stderr
    unknown = fastflow(server, "run", "no_such_pipeline", token=server.login())
    assert unknown.returncode == 2 and "no_such_pipeline" in unknown.stderr
    bad_param = fastflow(server, "run", "hello", "-p", "oops", token=server.login())
    assert bad_param.returncode == 2 and "KEY=VALUE" in bad_param.stderr


TERMINAL_TRICKS = r"""
print("\x1b[32mgreen stays\x1b[0m")
print("title \x1b]0;pwned\x07 clear \x1b[2J home \x1b[H")
print("over\rwritten \x9b31m c1")
"""


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_logs_and_follow_cannot_drive_the_viewers_terminal(server: LiveServer) -> None:
    (server.settings.pipelines_dir / "tricks.py").write_text(TERMINAL_TRICKS)
    token = server.login()
    followed = fastflow(server, "run", "tricks", "--follow", token=token)
    assert followed.returncode == 0, followed.stderr
    run_id = followed.stderr.split("run ", 1)[1].split()[0]
    printed = fastflow(server, "logs", run_id, token=token)
    for out in (followed.stdout, printed.stdout):
        assert "\x1b[32mgreen stays\x1b[0m" in out  # colours are kept
        assert "title \\x1b]0;pwned\\x07 clear \\x1b[2J home \\x1b[H" in out
        assert "over\\rwritten \\x9b31m c1" in out
        assert "\x1b]" not in out and "\r" not in out and "\x9b" not in out
