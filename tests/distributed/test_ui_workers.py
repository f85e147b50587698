"""The dashboard's workers panel with DISPATCHER=celery and a real `fastflow worker`, through
NiceGUI's `User` against the mounted app (see tests/integration/test_ui_user.py)."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import redis
from fastapi import FastAPI
from nicegui.testing.user import User

from fastflow.settings import Settings
from tests.support.nicegui_app import console_app
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER
from tests.support.workers import Worker, celery_overrides, clear_prefix


@pytest.fixture
async def celery_app(
    make_settings: Callable[..., Settings], redis_client: redis.Redis
) -> AsyncIterator[FastAPI]:
    settings = make_settings(FASTFLOW_UI=True, **celery_overrides())
    try:
        async with console_app(settings) as application:
            yield application
    finally:
        clear_prefix(redis_client, settings.redis_prefix)


async def test_workers_panel_lists_live_celery_workers(
    celery_app: FastAPI, redis_client: redis.Redis, tmp_path: Path, uv_cache: Path
) -> None:
    user = User(httpx.AsyncClient(transport=httpx.ASGITransport(celery_app), base_url="http://t"))
    r = await user.http_client.post(
        "/login", data={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 303
    await user.open("/")
    await user.should_see("No Celery worker is alive; runs wait in the queue.")
    prefix = celery_app.state.services.settings.redis_prefix
    # The worker only talks to Redis here (no run is dispatched), so the server URL is unused.
    worker = Worker("ui-w1", tmp_path / "w1", "http://127.0.0.1:9", prefix, uv_cache, 3)
    try:
        worker.wait_ready(redis_client, prefix)
        # The dashboard refreshes every 3 s; should_see retries for up to ~10 s here.
        await user.should_see(f"{socket.gethostname()} (pid", retries=100)
        await user.should_see("0/3 busy")
        await user.should_see("queues fastflow")
    finally:
        worker.stop()
