"""FASTFLOW_LOG_TIMINGS: a run the server executes itself logs when each stage ended."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest

from fastflow.monitoring.timings import LOCAL_STAGES, parse_timings, stage_durations
from fastflow.settings import Settings
from tests.support.server import start_run, start_server, wait_for_run


def _one_run(settings: Settings, caplog: pytest.LogCaptureFixture) -> str:
    """Run `hello` once on a server with `settings`, the timings logger captured."""
    caplog.set_level(logging.INFO, logger="fastflow.timings")
    live = start_server(settings)
    try:
        with live.client() as client:
            run_id = start_run(client, "hello", NAME="timings")
            assert wait_for_run(client, run_id)["status"] == "SUCCESS"
    finally:
        live.stop()
    return run_id


def test_a_local_run_logs_its_stages_in_order(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    run_id = _one_run(make_settings(FASTFLOW_LOG_TIMINGS="1"), caplog)
    marks = parse_timings(caplog.text)[run_id]
    assert set(LOCAL_STAGES) <= set(marks), marks
    at = [marks[stage] for stage in LOCAL_STAGES]
    assert at == sorted(at), marks
    durations = stage_durations(marks, LOCAL_STAGES)
    assert list(durations) == list(LOCAL_STAGES[1:])


def test_without_the_setting_nothing_is_logged(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    _one_run(make_settings(), caplog)
    assert "TIMINGS" not in caplog.text
