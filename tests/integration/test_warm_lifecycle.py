"""Warm interpreters come and go with what they were started from; a run never fails
because of warming: it starts cold, with one system line saying why."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from fastflow.executors.warm.client import WarmTarget, WarmUnavailable, start_warm
from fastflow.executors.warm.pool import WarmRequest
from fastflow.models import RunStatus
from fastflow.settings import Settings
from tests.support.services import SqliteTemplate
from tests.support.warm import Harness, lines, serve, system_lines, write_pipelines

HELLO = "import os\nprint('hello from', os.getppid(), flush=True)\n"


@pytest.fixture
def db_url(sqlite_template: SqliteTemplate, tmp_path: Path) -> str:
    return sqlite_template.clone(tmp_path / "data" / "fastflow.db")


@pytest.fixture
def warm(make_settings: Callable[..., Settings], pipelines_dir: Path) -> Iterator[Harness]:
    write_pipelines(
        pipelines_dir,
        {
            "l_hello": (HELLO, {"preload": ["json"]}),
            "l_other": (HELLO, {"preload": ["email.utils"]}),
            "l_missing": ("print('ran anyway')\n", {"preload": ["fastflow_no_such_module"]}),
        },
    )
    yield from serve(make_settings, "warm", FASTFLOW_WARM_MAX=1)


def _parent(out: list[str]) -> int:
    [line] = [x for x in out if x.startswith("hello from")]
    return int(line.split()[-1])


def _cold_lines(events: list[dict[str, Any]]) -> list[str]:
    return [s for s in system_lines(events) if s.startswith("started cold: ")]


async def test_a_preload_that_fails_starts_the_run_cold_and_says_why(warm: Harness) -> None:
    for _ in range(2):
        result, events, _spec = await warm.run("l_missing")
        assert result.status is RunStatus.SUCCESS, events
        assert lines(events, "stdout") == ["ran anyway"]
        [why] = _cold_lines(events)
        assert "preloading 'fastflow_no_such_module' failed: ModuleNotFoundError" in why
    warmth = warm.pool.warmth("l_missing")
    assert warmth is not None and warmth.state == "cold"
    assert "fastflow_no_such_module" in warmth.reason
    assert warm.pool.starts == {"cold": 2}


async def test_a_warm_interpreter_that_died_is_replaced_after_one_cold_run(warm: Harness) -> None:
    result, events, _ = await warm.run("l_hello")
    assert result.status is RunStatus.SUCCESS and not _cold_lines(events), events
    [proc] = warm.pool.processes()
    assert _parent(lines(events, "stdout")) == proc["pid"]
    os.kill(proc["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while warm.pool.processes():
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    result, events, _ = await warm.run("l_hello")
    assert result.status is RunStatus.SUCCESS, events
    [why] = _cold_lines(events)
    assert "the warm interpreter had ended" in why
    result, events, _ = await warm.run("l_hello")
    assert result.status is RunStatus.SUCCESS and not _cold_lines(events), events
    [fresh] = warm.pool.processes()
    assert fresh["pid"] != proc["pid"]
    assert _parent(lines(events, "stdout")) == fresh["pid"]
    assert warm.pool.starts == {"warm": 2, "cold": 1}


async def test_changed_code_preload_and_requirements_reach_the_next_run(
    warm: Harness, pipelines_dir: Path
) -> None:
    folder = pipelines_dir / "l_hello"
    await warm.run("l_hello")
    [first] = warm.pool.processes()
    # The pipeline's code is read by every run.
    (folder / "main.py").write_text(HELLO + "print('changed code', flush=True)\n")
    _, events, _ = await warm.run("l_hello")
    assert lines(events, "stdout")[-1] == "changed code"
    assert [p["pid"] for p in warm.pool.processes()] == [first["pid"]]
    # Another preload list: another warm interpreter, the old one goes.
    (folder / "pipeline.json").write_text(json.dumps({"preload": ["json", "csv"]}))
    _, events, _ = await warm.run("l_hello")
    [second] = warm.pool.processes()
    assert second["preload"] == ["json", "csv"] and second["pid"] != first["pid"]
    assert _parent(lines(events, "stdout")) == second["pid"]
    # Other requirements: another environment, another warm interpreter.
    (folder / "requirements.txt").write_text("# no dependencies, but another environment\n")
    result, events, _ = await warm.run("l_hello")
    assert result.status is RunStatus.SUCCESS and not _cold_lines(events), events
    [third] = warm.pool.processes()
    assert third["pid"] not in (first["pid"], second["pid"])
    assert third["python"] != second["python"]
    assert _parent(lines(events, "stdout")) == third["pid"]


async def test_metrics_and_the_console_say_how_runs_start(warm: Harness) -> None:
    assert warm.pool.describe("l_hello") == (
        "warm starts on; no local run here since the server started"
    )
    await warm.run("l_hello")
    await warm.run("l_missing")
    [proc] = warm.pool.processes()
    text = warm.services.monitoring.render().decode()
    assert "fastflow_warm_processes 1.0" in text
    assert "fastflow_warm_memory_limit_bytes " in text
    assert f'fastflow_warm_process_rss_bytes{{pid="{proc["pid"]}",preload="json"}}' in text
    assert 'fastflow_run_starts_total{start="warm"} 1.0' in text
    assert 'fastflow_run_starts_total{start="cold"} 1.0' in text
    assert warm.pool.describe("l_hello") == "warm: forked from a warm interpreter (preload: json)"
    assert warm.pool.describe("l_missing").startswith(
        "cold: preloading 'fastflow_no_such_module' failed"
    )


async def test_pre_heat_starts_the_warm_interpreter_the_first_run_uses(
    warm: Harness, pipelines_dir: Path
) -> None:
    (pipelines_dir / "l_hello" / "requirements.txt").write_text("# pre-heated\n")
    definition = warm.services.catalog.get("l_hello")
    assert warm.services.preheater.start({"l_hello": definition}) == ["l_hello"]
    await warm.services.preheater.wait()
    [heated] = warm.pool.processes()
    assert heated["pipelines"] == ["l_hello"] and heated["preload"] == ["json"]
    result, events, _ = await warm.run("l_hello")
    assert result.status is RunStatus.SUCCESS and not _cold_lines(events), events
    assert _parent(lines(events, "stdout")) == heated["pid"]
    assert [p["pid"] for p in warm.pool.processes()] == [heated["pid"]]


async def test_a_request_without_the_token_is_refused(warm: Harness) -> None:
    await warm.run("l_hello")
    [proc] = warm.pool.processes()
    target = warm.pool.lease(
        WarmRequest("l_hello", Path(proc["python"]), Path(proc["python"]).parent.parent, (), None)
    )
    assert isinstance(target, WarmTarget)
    forged = WarmTarget(target.address, "0" * 32, target.python, target.uid)
    null = os.open(os.devnull, os.O_RDWR)
    try:
        request = {"script": "/dev/null", "cwd": "/", "env": {}, "token": forged.token}
        with pytest.raises(WarmUnavailable, match="not a request of fastflow's"):
            start_warm(forged, request, (null, null, null), None)
        # Nonsense does not stop it: the real token still gets a run forked.
        with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as sock:
            sock.connect("\0" + target.address)
            socket.send_fds(sock, [b"{not json"], [null, null, null])
            assert b"error" in sock.recv(4096)
        request["token"] = target.token
        child = start_warm(target, request, (null, null, null), None)
        assert await asyncio.to_thread(child.wait) == 0
    finally:
        os.close(null)


async def test_past_the_cap_the_least_recently_used_goes(warm: Harness) -> None:
    await warm.run("l_hello")
    [hello] = warm.pool.processes()
    _, events, _ = await warm.run("l_other")
    assert not _cold_lines(events)
    [other] = warm.pool.processes()  # FASTFLOW_WARM_MAX=1
    assert other["pipelines"] == ["l_other"] and other["pid"] != hello["pid"]
    _, events, _ = await warm.run("l_hello")
    assert not _cold_lines(events)
    assert [p["pipelines"] for p in warm.pool.processes()] == [["l_hello"]]


async def test_warm_starts_off_runs_cold_without_a_word(
    make_settings: Callable[..., Settings], pipelines_dir: Path
) -> None:
    write_pipelines(pipelines_dir, {"l_hello": (HELLO, None)})
    for cold in serve(make_settings, "cold"):
        result, events, _ = await cold.run("l_hello")
        assert result.status is RunStatus.SUCCESS
        assert not _cold_lines(events), events
        assert cold.pool.processes() == [] and cold.pool.starts == {"cold": 1}
        warmth = cold.pool.warmth("l_hello")
        assert warmth is not None and "FASTFLOW_WARM_START=off" in warmth.reason


async def test_a_warm_interpreter_over_the_memory_cap_is_stopped_and_runs_start_cold(
    make_settings: Callable[..., Settings], pipelines_dir: Path
) -> None:
    write_pipelines(pipelines_dir, {"l_hello": (HELLO, {"preload": ["json"]})})
    for small in serve(make_settings, "warm", FASTFLOW_WARM_MAX_MEMORY_MB=1):
        for _ in range(2):  # the second run is told the same, without a new attempt
            result, events, _ = await small.run("l_hello")
            assert result.status is RunStatus.SUCCESS, events
            [why] = _cold_lines(events)
            assert "FASTFLOW_WARM_MAX_MEMORY_MB=1" in why and "MB, more than" in why
            assert small.pool.processes() == []
        assert small.pool.starts == {"cold": 2}


async def test_past_the_memory_cap_the_least_recently_used_goes(
    make_settings: Callable[..., Settings], pipelines_dir: Path
) -> None:
    write_pipelines(
        pipelines_dir,
        {"l_hello": (HELLO, {"preload": ["json"]}), "l_other": (HELLO, {"preload": ["json"]})},
    )
    # Room for one warm interpreter of about this size, not for two (the two pipelines have
    # folders of their own, so each needs a warm interpreter of its own).
    for probe in serve(make_settings, "warm"):
        await probe.run("l_hello")
        [measured] = probe.pool.processes()
    room = int(measured["rss_bytes"] * 1.5 / 1024 / 1024) + 1
    for warm in serve(make_settings, "warm", FASTFLOW_WARM_MAX_MEMORY_MB=room):
        _, events, _ = await warm.run("l_hello")
        assert not _cold_lines(events), events
        _, events, _ = await warm.run("l_other")
        assert not _cold_lines(events), events
        assert [p["pipelines"] for p in warm.pool.processes()] == [["l_other"]]
        _, events, _ = await warm.run("l_hello")
        assert not _cold_lines(events), events
        assert [p["pipelines"] for p in warm.pool.processes()] == [["l_hello"]]
