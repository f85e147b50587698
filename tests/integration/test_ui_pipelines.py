"""Dashboard and pipeline page with NiceGUI's `User`: each pipeline's strip of recent run
states, the docstring as description, and the soft-limit warnings from what runs used."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from fastapi import FastAPI

from fastflow.settings import Settings
from tests.integration.test_ui_user import _finished, logged_in, services
from tests.support.nicegui_app import console_app

HUNGRY = '''"""Holds some memory for a while: over its soft limit."""
import time
block = bytearray(40 * 1024 * 1024)
time.sleep(2.5)
print("done", len(block))
'''


@pytest.fixture
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    settings = make_settings(FASTFLOW_UI=True, FASTFLOW_METRICS_INTERVAL=0.2)
    (settings.pipelines_dir / "hungry.py").write_text(HUNGRY)
    (settings.pipelines_dir / "hungry.json").write_text('{"mem_soft_limit": "20m"}')
    async with console_app(settings) as application:
        yield application


async def test_strip_description_and_soft_limit_warning(app: FastAPI) -> None:
    svc = services(app)
    run = svc.run_service.start("hungry")
    assert await _finished(app, run.id) == "SUCCESS"
    assert any(s.get("ram_soft_limit_exceeded") for s in svc.run_service.metrics(run.id))
    user = await logged_in(app)
    await user.open("/")
    # The docstring stands in for a missing description; the strip links to the run.
    await user.should_see("Holds some memory for a while: over its soft limit.")
    [strip] = user.find(marker="strip-hungry").elements
    assert [c.props.get("href") for c in strip.descendants() if c.props.get("href")] == [
        f"/runs/{run.id}"
    ]
    await user.open("/pipelines/hungry")
    await user.should_see("1 of the last 1 runs went over the RAM soft limit (20m)")
    await user.open("/pipelines/hello")
    await user.should_see("Says hello. Try the parameter NAME.")  # pipeline.json wins
    await user.should_not_see("went over")
    await user.open("/pipelines?q=HUNG")
    await user.should_see("1 pipeline(s) matching")
