"""`fastflow run --follow` and `fastflow logs` as real subprocesses against a live server:
every line once and in the run's order, colours and a progress bar on a terminal only, one
summary line, and the run's own exit code."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import time
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from fastflow.cli import app
from tests.support.cli import cli_env, cli_server, fastflow
from tests.support.server import FASTFLOW_BIN, LiveServer

MIXED = """
import os, sys, time
for i in range(1, 6):
    print(f"out {i}", flush=True)
    print(f"err {i}", file=sys.stderr, flush=True)
    print(f"::progress {i * 20} step {i} of 5", flush=True)
    time.sleep(0.05)
sys.exit(int(os.environ.get("CODE", "0")))
"""

TERMINAL_TRICKS = r"""
print("\x1b[32mgreen stays\x1b[0m")
print("title \x1b]0;pwned\x07 clear \x1b[2J home \x1b[H")
print("over\rwritten \x9b31m c1")
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from cli_server(
        tmp_path_factory, "cli-follow", {"mixed.py": MIXED, "tricks.py": TERMINAL_TRICKS}
    )


@pytest.fixture(scope="module")
def env(live: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return cli_env(
        tmp_path_factory.mktemp("config"), FASTFLOW_URL=live.url, FASTFLOW_TOKEN=live.login()
    )


def in_process(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """A command in this process (no new interpreter): exit code, stdout, stderr."""
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def _run_id(stderr: str) -> str:
    found = re.search(r"fastflow: run ([0-9a-f]{32}) of ", stderr)
    assert found, stderr
    return found.group(1)


def test_follow_prints_every_line_and_exits_with_the_run_code(
    live: LiveServer, env: dict[str, str]
) -> None:
    # 3,000 lines at once are far over the default 100 lines/s: the CLI fills the gaps.
    done = fastflow("run", "counter", "-p", "LINES=3000", "--follow", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "".join(f"line {i}\n" for i in range(1, 3001))
    run_id = _run_id(done.stderr)
    summary = done.stderr.strip().splitlines()[-1]
    assert re.fullmatch(
        rf"fastflow: run SUCCESS · exit code 0 · \d+\.\d s · {live.url}/runs/{run_id}", summary
    ), summary
    assert "\x1b" not in done.stderr  # no colour, no bar for a pipe

    code, printed, _ = in_process("logs", run_id, env=env)
    assert code == 0 and printed == done.stdout

    failed = fastflow("run", "exit_code", "--params", '{"CODE": 3}', "-f", env=env)
    assert failed.returncode == 3, failed.stderr
    assert "run FAILED (EXIT_NONZERO) · exit code 3 · " in failed.stderr
    # Without --follow too, a failed run's log exits non-zero: with the run's code.
    code, printed, _ = in_process("logs", _run_id(failed.stderr), env=env)
    assert code == 3 and printed == "exiting with 3\n"


def test_piped_output_keeps_the_runs_own_order(live: LiveServer, env: dict[str, str]) -> None:
    both = fastflow("run", "mixed", "-p", "CODE=4", "-f", env=env, merge=True)
    assert both.returncode == 4, both.stdout
    run_id = _run_id(both.stdout)
    with live.client() as api:
        events = api.get(f"/api/runs/{run_id}/logs", params={"format": "json"}).text
    by_seq = [
        e["line"] for e in sorted(map(json.loads, events.splitlines()), key=lambda e: e["seq"])
    ]
    printed = [line for line in both.stdout.splitlines() if not line.startswith("fastflow: ")]
    assert printed == by_seq
    assert sorted(printed) == sorted(
        [f"out {i}" for i in range(1, 6)] + [f"err {i}" for i in range(1, 6)]
    )
    assert "::progress" not in both.stdout and "\x1b" not in both.stdout


def _on_a_terminal(args: list[str], env: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    """Run `fastflow ARGS` with stdout and stderr on a pseudo-terminal; its screen output."""
    main, child = pty.openpty()
    proc = subprocess.Popen(
        [str(FASTFLOW_BIN), *args], stdin=subprocess.DEVNULL, stdout=child, stderr=child, env=env
    )
    os.close(child)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([main], [], [], 0.2)
        if ready:
            try:
                data = os.read(main, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not data:
                break
            chunks.append(data)
        elif proc.poll() is not None:
            break
    os.close(main)
    return proc.wait(timeout=10), b"".join(chunks).decode(errors="replace")


def test_a_terminal_gets_colours_and_a_progress_bar(live: LiveServer, env: dict[str, str]) -> None:
    code, screen = _on_a_terminal(["run", "mixed", "-p", "CODE=0", "-f"], env | {"TERM": "xterm"})
    assert code == 0, screen
    assert "\x1b[31merr 1\x1b[0m" in screen  # stderr lines red
    assert re.search(r"━+─* +\d+%  step \d of 5", screen), screen  # the live bar
    assert "\r\x1b[2K" in screen  # ... redrawn in place, and cleared at the end
    assert re.search(r"\x1b\[32mfastflow: run SUCCESS · exit code 0 · ", screen), screen

    code, plain = _on_a_terminal(["run", "mixed", "-f"], env | {"TERM": "xterm", "NO_COLOR": "1"})
    assert code == 0, plain
    assert "err 1" in plain and "\x1b[31m" not in plain and "\x1b[32m" not in plain
    assert "fastflow: run SUCCESS" in plain


def test_logs_and_follow_cannot_drive_the_viewers_terminal(env: dict[str, str]) -> None:
    followed = fastflow("run", "tricks", "--follow", env=env)
    assert followed.returncode == 0, followed.stderr
    _, printed, _ = in_process("logs", _run_id(followed.stderr), env=env)
    for out in (followed.stdout, printed):
        assert "\x1b[32mgreen stays\x1b[0m" in out  # colours are kept
        assert "title \\x1b]0;pwned\\x07 clear \\x1b[2J home \\x1b[H" in out
        assert "over\\rwritten \\x9b31m c1" in out
        assert "\x1b]" not in out and "\r" not in out and "\x9b" not in out


def test_logs_follow_of_a_finished_run_and_an_unknown_one(env: dict[str, str]) -> None:
    code, started, _ = in_process("run", "hello", "-p", "NAME=cli", env=env)
    assert code == 0 and re.fullmatch(r"[0-9a-f]{32}\n", started)
    followed = fastflow("logs", started.strip(), "-f", env=env)
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout.startswith("Hello, cli!\n")
    assert "fastflow: run SUCCESS" in followed.stderr
    code, _, unknown = in_process("logs", "0123abcd", "-f", env=env)
    assert code == 2 and unknown == "fastflow: run '0123abcd' not found\n"
