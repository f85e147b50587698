"""Warm starts behave exactly as cold starts: one suite, run both ways, same assertions.

Real runs through the local executor as the server wires it (supervised, sandboxed when the
kernel has Landlock): warm, forked from a warm interpreter of the pipeline's environment;
cold, `python main.py` started afresh (FASTFLOW_WARM_START=off).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fastflow.events.log import read_events
from fastflow.models import FailureKind, RunStatus
from fastflow.runs.ports import RunControl
from fastflow.sandbox.landlock import abi_version
from fastflow.settings import Settings
from tests.support.services import SqliteTemplate
from tests.support.warm import Harness, lines, serve, system_lines, write_pipelines

ABI, _ = abi_version()

REPORT = """
import atexit, json, os, random, signal, sys, threading, time
import email.utils

leaked = getattr(email.utils, "fastflow_test_mark", None)
email.utils.fastflow_test_mark = "set by an earlier run"

def late():
    time.sleep(0.3)
    print("thread done", flush=True)

threading.Thread(target=late).start()
def at_exit():
    print("atexit ran", flush=True)
    sys.stdout.write("no newline")

atexit.register(at_exit)

try:
    secret = open(os.environ["SECRET_FILE"]).read()
except OSError as exc:
    secret = f"denied: {type(exc).__name__}"

print("REPORT " + json.dumps({
    "name": __name__,
    "argv": sys.argv,
    "cwd": os.getcwd(),
    "path0": sys.path[0],
    "who": os.environ.get("WHO"),
    "leaked": leaked,
    "random": random.random(),
    "uid": os.getuid(),
    "secret": secret,
    "signals": {
        s.name: str(signal.getsignal(s))
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD, signal.SIGUSR1)
    },
}), flush=True)
"""

PIPELINES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "w_report": (REPORT, {"preload": ["email.utils", "json"]}),
    "w_exit": ("import sys\nprint('leaving', flush=True)\nsys.exit(3)\n", None),
    "w_os_exit": ("import os\nprint('hard exit')\nos._exit(5)\n", None),
    "w_exit_text": ("import sys\nsys.exit('leaving with words')\n", None),
    "w_sigint": (
        "import os, signal, time\nos.kill(os.getpid(), signal.SIGINT)\ntime.sleep(30)\n",
        None,
    ),
    "w_signal": ("import os, signal\nos.kill(os.getpid(), signal.SIGTERM)\n", None),
    "w_raises": ("def inner():\n    raise ValueError('boom')\n\ninner()\n", None),
    "w_sleeps": ("import time\nprint('started', flush=True)\ntime.sleep(120)\n", None),
    "w_memory": (
        "import time\nblock = bytearray(400 * 1024 * 1024)\n"
        "block[::4096] = b'x' * len(block[::4096])\n"
        "print('allocated', flush=True)\ntime.sleep(60)\n",
        {"mem_hard_limit": "100m"},
    ),
    "w_missing_preload": ("print('ran anyway')\n", {"preload": ["fastflow_no_such_module"]}),
}


@pytest.fixture
def db_url(sqlite_template: SqliteTemplate, tmp_path: Path) -> str:
    return sqlite_template.clone(tmp_path / "data" / "fastflow.db")


@pytest.fixture(params=["warm", "cold"])
def harness(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings], pipelines_dir: Path
) -> Iterator[Harness]:
    write_pipelines(pipelines_dir, PIPELINES)
    yield from serve(make_settings, request.param)


def assert_started_as_asked(harness: Harness, events: list[dict[str, Any]]) -> None:
    """Warm runs really were forked warm (and cold ones cold); neither fell back."""
    assert not [s for s in system_lines(events) if "started cold" in s], events
    pool = harness.executor.warm
    assert pool is not None
    assert pool.enabled is (harness.mode == "warm")


async def test_a_run_sees_what_python_main_py_would(harness: Harness) -> None:
    result, events, spec = await harness.run("w_report")
    assert result.status is RunStatus.SUCCESS, events
    assert_started_as_asked(harness, events)
    out = lines(events, "stdout")
    report = json.loads(next(line for line in out if line.startswith("REPORT "))[7:])
    entry = str(spec.pipeline.entrypoint)
    assert report["name"] == "__main__"
    assert report["argv"] == [entry]
    assert report["cwd"] == str(spec.work_dir)
    assert report["path0"] == os.path.dirname(entry)
    assert report["who"] == "semantics"
    assert report["leaked"] is None
    # Signal dispositions as the run's supervisor leaves them (SIGINT ignored, SIGPIPE
    # ignored by the interpreter).
    assert report["signals"] == {
        "SIGINT": "1",
        "SIGTERM": "0",
        "SIGPIPE": "1",
        "SIGCHLD": "0",
        "SIGUSR1": "0",
    }
    # Threads finish before atexit handlers run; the last partial line is flushed at exit.
    assert out[-3:] == ["thread done", "atexit ran", "no newline"]
    if ABI:
        assert report["uid"] != 0
        assert report["secret"].startswith("denied"), report
    # A second run: nothing of the first one is left, random numbers are new.
    second, events2, _ = await harness.run("w_report")
    assert second.status is RunStatus.SUCCESS
    report2 = json.loads(next(x for x in lines(events2, "stdout") if x.startswith("REPORT "))[7:])
    assert report2["leaked"] is None
    assert report2["random"] != report["random"]
    if harness.mode == "warm":
        assert harness.executor.warm is not None
        assert harness.executor.warm.starts["warm"] == 2
        [proc] = harness.executor.warm.processes()
        # The run's environment (its parameters, secrets) is the fork's, never the warm
        # interpreter's.
        environ = await asyncio.to_thread(Path(f"/proc/{proc['pid']}/environ").read_bytes)
        assert b"semantics" not in environ
        assert proc["pipelines"] == ["w_report"]
        assert proc["preload"] == ["email.utils", "json"]
        assert proc["rss_bytes"] > 0


@pytest.mark.parametrize(
    ("pipeline", "code", "kind"),
    [
        ("w_exit", 3, FailureKind.EXIT_NONZERO),
        ("w_os_exit", 5, FailureKind.EXIT_NONZERO),
        ("w_exit_text", 1, FailureKind.EXIT_NONZERO),
        ("w_signal", 128 + signal.SIGTERM, FailureKind.EXIT_NONZERO),
    ],
)
async def test_exit_codes_are_the_scripts(
    harness: Harness, pipeline: str, code: int, kind: FailureKind
) -> None:
    result, events, _ = await harness.run(pipeline)
    assert_started_as_asked(harness, events)
    assert (result.status, result.exit_code, result.failure_kind) == (
        RunStatus.FAILED,
        code,
        kind,
    ), events
    if pipeline == "w_os_exit":
        assert lines(events, "stdout") == ["hard exit"]
    if pipeline == "w_exit_text":
        assert lines(events, "stderr") == ["leaving with words"]


async def test_a_single_file_pipeline_runs_as_main_too(harness: Harness) -> None:
    script = harness.settings.pipelines_dir / "w_single.py"
    await asyncio.to_thread(
        script.write_text, "import sys\nprint(__name__, sys.argv == [__file__], sys.path[0])\n"
    )
    result, events, _ = await harness.run("w_single")
    assert result.status is RunStatus.SUCCESS, events
    assert_started_as_asked(harness, events)
    assert lines(events, "stdout") == [f"__main__ True {script.parent}"]


async def test_an_uncaught_exception_prints_its_traceback(harness: Harness) -> None:
    result, events, spec = await harness.run("w_raises")
    assert_started_as_asked(harness, events)
    assert (result.status, result.exit_code) == (RunStatus.FAILED, 1)
    entry = spec.pipeline.entrypoint
    assert lines(events, "stderr") == [
        "Traceback (most recent call last):",
        f'  File "{entry}", line 4, in <module>',
        "    inner()",
        f'  File "{entry}", line 2, in inner',
        "    raise ValueError('boom')",
        "ValueError: boom",
    ]


async def test_cancel_stops_the_run(harness: Harness) -> None:
    control = RunControl()
    spec = harness.spec("w_sleeps")
    log_path = harness.settings.logs_dir / f"{spec.run_id}.log"

    async def cancel_when_started() -> None:
        # The log as viewers read it: the run printed its first line.
        deadline = time.monotonic() + 180
        while not log_path.exists() or not any(
            e.get("line") == "started" for e in read_events(log_path)
        ):
            assert time.monotonic() < deadline, "the run never started"
            await asyncio.sleep(0.05)
        control.cancel_reason = "stop it"
        control.cancel_requested.set()

    canceller = asyncio.create_task(cancel_when_started())
    result, events, _ = await harness.run("w_sleeps", control=control, spec=spec)
    await canceller
    assert_started_as_asked(harness, events)
    assert result.status is RunStatus.CANCELLED, events
    assert lines(events, "stdout") == ["started"]


async def test_a_timeout_stops_the_run(harness: Harness) -> None:
    result, events, _ = await harness.run("w_sleeps", timeout=1.5)
    assert_started_as_asked(harness, events)
    assert result.status is RunStatus.TIMED_OUT, events


async def test_the_memory_limit_stops_the_run(harness: Harness) -> None:
    result, events, _ = await harness.run("w_memory")
    assert_started_as_asked(harness, events)
    assert (result.status, result.failure_kind) == (RunStatus.FAILED, FailureKind.OOM), events


async def test_a_cancel_as_the_run_starts_stops_it_at_once(harness: Harness) -> None:
    # Asked before the process exists: SIGTERM reaches it as it starts (a warm child makes
    # its own process group and takes SIGTERM back from its warm interpreter as its first
    # steps), not only the SIGKILL after the grace time.
    control = RunControl(cancel_reason="stop it")
    control.cancel_requested.set()
    result, events, _ = await harness.run("w_sleeps", control=control)
    assert_started_as_asked(harness, events)
    assert result.status is RunStatus.CANCELLED, events
    assert not [s for s in system_lines(events) if "SIGKILL" in s], events
    assert result.exit_code == 128 + signal.SIGTERM, events
