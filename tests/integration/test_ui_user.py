"""The console with NiceGUI's own testing tool: `nicegui.testing.User`, in process, against the
real app (`create_app` with the UI mounted by `ui.run_with`) on SQLite and PostgreSQL.

NiceGUI's `user` fixture and `user_simulation()` cannot be used as they are: they start NiceGUI
with `ui.run()` and send requests to NiceGUI's own app (`nicegui.core.app`), not to a FastAPI
app it is mounted on, so our login wall, session cookie and API would be bypassed; and on exit
they delete every non-`tests.` module that defined a page from `sys.modules` (here
`fastflow.ui.*` and `fastflow` itself), which breaks every later test of the session. `User`
itself only needs an httpx client, so each test gives it one speaking ASGI to our app.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from fastapi import FastAPI
from nicegui.testing.user import User

from fastflow.models import Role
from fastflow.services import Services
from fastflow.settings import Settings
from tests.support.nicegui_app import console_app
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER

# A busy machine redraws slowly: wait up to about ten seconds for what a page should show.
RETRIES = 100
SECRET_VALUE = "topsecret-4f1c9e-value"


@pytest.fixture
async def app(make_settings: Callable[..., Settings]) -> AsyncIterator[FastAPI]:
    async with console_app(make_settings(FASTFLOW_UI=True)) as application:
        yield application


def services(app: FastAPI) -> Services:
    svc: Services = app.state.services
    return svc


def visitor(app: FastAPI) -> User:
    """A browser without a session."""
    return User(httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test"))


async def logged_in(
    app: FastAPI, username: str = ADMIN_USER, password: str = ADMIN_PASSWORD
) -> User:
    """A browser that sent the login form (the page's native form posts to /login)."""
    user = visitor(app)
    r = await user.http_client.post(
        "/login", data={"username": username, "password": password, "next": "/"}
    )
    assert r.status_code == 303 and r.headers["location"] == "/", r.text
    assert "fastflow_session" in user.http_client.cookies
    return user


async def test_login_wall_and_one_session(app: FastAPI) -> None:
    for path in ("/", "/schedules", "/secrets", "/sync", "/runs", "/pipelines/hello"):
        user = visitor(app)
        await user.open(path)  # follows the wall's redirect
        await user.should_see("Log in to the console", retries=RETRIES)
        await user.should_not_see("Schedules")
    forged = visitor(app)
    forged.http_client.cookies.set("fastflow_session", "forged")
    await forged.open("/secrets")
    await forged.should_see("Log in to the console", retries=RETRIES)
    wrong = visitor(app)
    r = await wrong.http_client.post("/login", data={"username": ADMIN_USER, "password": "nope"})
    assert r.status_code == 303 and "error=invalid" in r.headers["location"]
    await wrong.open(r.headers["location"])
    await wrong.should_see("invalid username or password", retries=RETRIES)
    admin = await logged_in(app)
    await admin.open("/schedules")
    await admin.should_see("No schedules yet.", retries=RETRIES)
    # The console's session is the API's.
    assert (await admin.http_client.get("/api/auth/me")).json()["username"] == ADMIN_USER


async def test_schedule_form_shows_the_validation_message(app: FastAPI) -> None:
    user = await logged_in(app)
    await user.open("/schedules")
    user.find(marker="schedule-new").click()
    user.find(marker="schedule-value").clear().type("61 * * * *")
    user.find(marker="schedule-save").click()
    await user.should_see(
        "trigger_value: '61 * * * *' is not a valid cron expression", retries=RETRIES
    )
    assert services(app).schedules.all() == []
    user.find(marker="schedule-value").clear().type("0 6 * * 1-5")
    user.find(marker="schedule-save").click()
    await user.should_see("cron 0 6 * * 1-5", retries=RETRIES)
    [row] = services(app).schedules.all()
    assert row.trigger_value == "0 6 * * 1-5" and row.enabled
    # Edit: the same form, prefilled; the change goes through the same validation.
    user.find(marker="schedule-edit").click()
    user.find(marker="schedule-value").clear().type("30 7 * * *")
    user.find(marker="schedule-save").click()
    await user.should_see("cron 30 7 * * *", retries=RETRIES)
    [row] = services(app).schedules.all()
    assert row.trigger_value == "30 7 * * *" and row.timezone == "UTC"


async def test_secrets_page_never_holds_a_secret_value(app: FastAPI) -> None:
    svc = services(app)
    svc.secrets.create("API_KEY", SECRET_VALUE, True)
    svc.secrets.create("REGION", "eu-west-1", False)
    svc.auth.create_user("viewer1", "viewer-password", Role.VIEWER)
    for name, password, can_change in (
        (ADMIN_USER, ADMIN_PASSWORD, True),
        ("viewer1", "viewer-password", False),
    ):
        user = await logged_in(app, name, password)
        client = await user.open("/secrets")
        await user.should_see("API_KEY", retries=RETRIES)
        await user.should_see(
            "eu-west-1", retries=RETRIES
        )  # a plain parameter is shown, as the API does
        await user.should_not_see(SECRET_VALUE)
        # Every element as it is sent to the browser over the websocket: no secret value.
        with client:
            payload = json.dumps([el._to_dict() for el in client.elements.values()], default=str)
        assert "API_KEY" in payload and SECRET_VALUE not in payload
        [new] = user.find(marker="secret-new").elements
        assert new.enabled is can_change, name


async def _finished(app: FastAPI, run_id: str) -> str:
    for _ in range(1200):
        status = services(app).runs.get(run_id).status
        if status in ("SUCCESS", "FAILED", "CANCELLED", "TIMED_OUT"):
            return str(status)
        await asyncio.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


async def test_dashboard_says_what_its_numbers_mean(app: FastAPI) -> None:
    svc = services(app)
    # A run builds the environment (no warm-up ever ran): the dashboard says it is cached.
    built = svc.run_service.start("with_requirements")
    assert await _finished(app, built.id) == "SUCCESS"
    assert svc.pipeline_store.get("with_requirements").last_cache_warmup is None
    waiting = svc.run_service.start("sleeper", {"SECONDS_TO_RUN": "60"})
    for _ in range(600):
        if svc.runs.get(waiting.id).status == "RUNNING":
            break
        await asyncio.sleep(0.05)
    svc.run_service.cancel(waiting.id)
    assert await _finished(app, waiting.id) == "CANCELLED"
    user = await logged_in(app)
    await user.open("/")
    await user.should_see("Deps: requirements, cached", retries=RETRIES)
    await user.should_see("Cancelled 1", retries=RETRIES)  # in the total, not among the failures
    await user.should_see("Failed 0", retries=RETRIES)
