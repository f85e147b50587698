"""One contract, every executor: the same behaviour asserted for each implementation.

Local (supervised and sandboxed, as the server wires it), docker (a real engine) and the
stub the package ships for tests of the lifecycle all take a `RunSpec` and report the run
the same way: its lines in order, its exit code, a cancel, a timeout, its artifacts, and the
capabilities the lifecycle asks every executor for.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fastflow.events.log import read_events
from fastflow.events.recorder import RunRecorder
from fastflow.executors.stub import StubExecutor
from fastflow.models import FailureKind, RunStatus
from fastflow.pipelines.discovery import PipelineCatalog
from fastflow.records import Run, new_id
from fastflow.runs.ports import ExecutionResult, Executor, RunControl, RunSpec
from fastflow.runs.spec import build_run_spec
from fastflow.secrets.service import RunSecrets
from fastflow.services import build_services
from fastflow.settings import Settings
from tests.support.engine import find_engine, require_engine
from tests.support.services import SqliteTemplate

PIPELINES = {
    "contract_ok": (
        "import os, sys\n"
        "print('hello', os.environ['WHO'], flush=True)\n"
        "print('careful', file=sys.stderr, flush=True)\n"
        "print('bye', flush=True)\n"
        "folder = os.environ['FASTFLOW_ARTIFACTS_DIR']\n"
        "open(os.path.join(folder, 'out.txt'), 'w').write('made')\n"
    ),
    "contract_fails": "import sys\nprint('about to fail', flush=True)\nsys.exit(3)\n",
    "contract_sleeps": "import time\nprint('started', flush=True)\ntime.sleep(120)\n",
}


@pytest.fixture
def db_url(sqlite_template: SqliteTemplate, tmp_path: Path) -> str:
    """SQLite only: the executors do not touch the database."""
    return sqlite_template.clone(tmp_path / "data" / "fastflow.db")


@pytest.fixture(params=["stub", "local", "docker"])
def executor(
    request: pytest.FixtureRequest,
    make_settings: Callable[..., Settings],
    pipelines_dir: Path,
) -> Iterator[tuple[Executor, Settings]]:
    for name, code in PIPELINES.items():
        (pipelines_dir / f"{name}.py").write_text(code)
    overrides: dict[str, object] = {}
    if request.param == "docker":
        engine = require_engine(find_engine())
        overrides = {"DOCKER_HOST": engine.host, "WORKER_BASE_IMAGE": engine.image}
    settings = make_settings(**overrides)
    if request.param == "stub":
        yield StubExecutor(cancel_grace=1.0), settings
        return
    services = build_services(settings)
    try:
        yield services.executors[request.param], settings
    finally:
        services.executors[request.param].close()
        services.db.dispose()


def _spec(settings: Settings, pipeline: str, timeout: float | None = None) -> RunSpec:
    definition = PipelineCatalog(settings.pipelines_dir).get(pipeline)
    run_id = new_id()
    return build_run_spec(
        run_id=run_id,
        pipeline=definition,
        pipeline_name=pipeline,
        attempt=1,
        parameters={"WHO": "contract"},
        run_secrets=RunSecrets(),
        work_root=settings.work_dir,
        metrics_path=settings.logs_dir / f"{run_id}_metrics.jsonl",
        timeout=timeout,
    )


def _recorder(settings: Settings, spec: RunSpec) -> RunRecorder:
    return RunRecorder(spec.run_id, settings.logs_dir / f"{spec.run_id}.log")


def _lines(recorder: RunRecorder) -> list[tuple[str, str]]:
    recorder.close()
    return [(e["stream"], e["line"]) for e in read_events(recorder.log_path) if e["type"] == "log"]


async def _execute(
    executor: Executor, spec: RunSpec, recorder: RunRecorder, control: RunControl | None = None
) -> ExecutionResult:
    return await asyncio.wait_for(
        executor.execute(spec, recorder, control or RunControl()), timeout=240
    )


async def test_a_run_reports_its_lines_in_order_and_keeps_its_artifacts(
    executor: tuple[Executor, Settings],
) -> None:
    impl, settings = executor
    spec = _spec(settings, "contract_ok")
    recorder = _recorder(settings, spec)
    result = await _execute(impl, spec, recorder)
    lines = _lines(recorder)
    assert result.status is RunStatus.SUCCESS, (result, lines)
    assert result.exit_code == 0
    stdout = [line for stream, line in lines if stream == "stdout"]
    assert stdout == ["hello contract", "bye"]
    assert ("stderr", "careful") in lines
    assert (spec.artifacts_dir / "out.txt").read_text() == "made"


async def test_a_non_zero_exit_fails_the_run_with_its_code(
    executor: tuple[Executor, Settings],
) -> None:
    impl, settings = executor
    spec = _spec(settings, "contract_fails")
    recorder = _recorder(settings, spec)
    result = await _execute(impl, spec, recorder)
    assert result.status is RunStatus.FAILED
    assert result.exit_code == 3
    assert result.failure_kind is FailureKind.EXIT_NONZERO
    assert ("stdout", "about to fail") in _lines(recorder)


async def test_cancel_stops_a_running_run(executor: tuple[Executor, Settings]) -> None:
    impl, settings = executor
    spec = _spec(settings, "contract_sleeps")
    recorder = _recorder(settings, spec)
    control = RunControl()
    running = asyncio.create_task(_execute(impl, spec, recorder, control))
    deadline = time.monotonic() + 180
    # The log as viewers read it (a supervised run relays lines live only while watched).
    while not any(e.get("line") == "started" for e in read_events(recorder.log_path)):
        assert not running.done(), running.result()
        assert time.monotonic() < deadline, "the run never started"
        await asyncio.sleep(0.05)
    assert await impl.health(spec.run_id) is not None  # executing here now
    control.cancel_reason = "the contract says so"
    control.cancel_requested.set()
    result = await running
    assert result.status is RunStatus.CANCELLED, result
    assert await impl.health(spec.run_id) is None  # not any more


async def test_a_run_over_its_timeout_is_stopped(executor: tuple[Executor, Settings]) -> None:
    impl, settings = executor
    spec = _spec(settings, "contract_sleeps", timeout=3.0)
    recorder = _recorder(settings, spec)
    result = await _execute(impl, spec, recorder)
    assert result.status is RunStatus.TIMED_OUT, result


async def test_every_capability_answers(executor: tuple[Executor, Settings]) -> None:
    impl, _ = executor
    assert isinstance(impl, Executor)
    assert isinstance(impl.outlives_server, bool)
    assert await impl.health("not-a-run-here") is None
    assert await impl.reattachable([new_id()]) in ({}, None)
    assert impl.sweep(lambda ids: {}, True) == [] or all(
        isinstance(n, str) for n in impl.sweep(lambda ids: {}, True)
    )
    gone = Run(id=new_id(), pipeline_name="contract_ok", executor=impl.name)
    assert impl.abandon(gone).startswith("the server stopped while this run was running")
