"""The console's schedules, secrets and git sync pages, the dashboard's sync button and
workers panel, and one login shared with the API — in headless Chromium against
`fastflow serve` (fixtures in conftest.py)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support.git import git
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER
from tests.support.ui import UiServer, login, no_horizontal_overflow, shoot

expect = pytest.importorskip("playwright.sync_api").expect

NEW_PAGES = ["/schedules", "/secrets", "/sync", "/schedules?pipeline=hello"]


def test_one_session_for_ui_and_api(ui_server: UiServer, page: Any) -> None:
    url = ui_server.url
    for path in NEW_PAGES:
        r = httpx.get(url + path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next="), path
    # A session from the API's login opens the console...
    with httpx.Client(base_url=url) as api_session:
        api_session.post(
            "/api/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        ).raise_for_status()
        r = api_session.get("/schedules", follow_redirects=False)
        assert r.status_code == 200 and "Schedules" in r.text
    # ...and logging in on the console's page gives a session the API accepts.
    login(page, "/secrets")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert "fastflow_ui" not in cookies  # no second session of the console's own
    with httpx.Client(base_url=url, cookies=cookies) as browser_session:
        assert browser_session.get("/api/auth/me").json()["username"] == ADMIN_USER
        # Writes with the cookie still need the CSRF token, as for any cookie session.
        assert browser_session.post("/api/sync").status_code == 403
    # Logout in the console revokes the session: the old cookie no longer works anywhere.
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    with httpx.Client(base_url=url, cookies=cookies) as stale:
        assert stale.get("/api/auth/me").status_code == 401
        assert stale.get("/secrets", follow_redirects=True).url.path == "/login"
    page.goto("/secrets")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    # A login form posted from another site is refused (login CSRF).
    r = httpx.post(
        url + "/login",
        data={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "next": "/"},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert r.status_code == 303 and "error=origin" in r.headers["location"]
    assert "fastflow_session" not in r.cookies


def test_create_toggle_and_delete_a_schedule(ui_server: UiServer, page: Any) -> None:
    login(page, "/schedules")
    page.get_by_test_id("schedule-new").click()
    page.get_by_test_id("schedule-pipeline").click()
    page.get_by_role("option", name="hello", exact=True).click()
    page.get_by_label("Cron expression or seconds").fill("every monday")
    # hello declares NAME: the form asks for it as a field of its own.
    page.get_by_label("NAME").fill("cron")
    page.get_by_test_id("schedule-save").click()
    error = page.get_by_test_id("schedule-error")
    expect(error).to_contain_text("trigger_value")  # the API's own 422 message
    shoot(page, ui_server, "schedule-form-error", full_page=False, dialog=True)
    page.get_by_test_id("schedule-kind").get_by_text("Interval").click()
    page.get_by_label("Cron expression or seconds").fill("0")
    page.get_by_test_id("schedule-save").click()
    expect(error).to_contain_text("not a valid interval")
    page.get_by_test_id("schedule-kind").get_by_text("Cron").click()
    page.get_by_label("Cron expression or seconds").fill("*/5 * * * 1-5")
    page.get_by_test_id("schedule-save").click()
    expect(page.get_by_text(re.compile(r"Schedule for hello saved"))).to_be_visible()
    [row] = [
        s
        for s in ui_server.api.get("/api/schedules").json()
        if s["trigger_value"] == "*/5 * * * 1-5"
    ]
    assert row["pipeline_name"] == "hello" and row["parameters"] == {"NAME": "cron"}
    card = page.get_by_test_id(f"schedule-{row['id']}")
    expect(card).to_contain_text("cron */5 * * * 1-5")
    expect(card).to_contain_text("Next run 2")
    shoot(page, ui_server, "schedules")
    card.get_by_test_id("schedule-enabled").click()
    expect(page.get_by_text("Schedule disabled")).to_be_visible()
    assert ui_server.api.get(f"/api/schedules/{row['id']}").json()["enabled"] is False
    card.get_by_test_id("schedule-delete").click()
    page.get_by_test_id("schedule-delete-confirm-keep").click()
    assert ui_server.api.get(f"/api/schedules/{row['id']}").status_code == 200
    card.get_by_test_id("schedule-delete").click()
    page.get_by_test_id("schedule-delete-confirm").click()
    expect(card).to_be_hidden()
    assert ui_server.api.get(f"/api/schedules/{row['id']}").status_code == 404


def test_secret_values_never_reach_the_browser(
    ui_server: UiServer, page: Any, browser: Any
) -> None:
    value = "s3cr3t-Value-d41d8cd98f"
    received: list[str] = []
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived", lambda f: received.append(f if isinstance(f, str) else f.decode())
        ),
    )
    login(page, "/secrets")
    page.get_by_test_id("secret-new").click()
    page.get_by_label("Key (environment variable name)").fill("bad key")
    page.get_by_label("Value").fill(value)
    page.get_by_test_id("secret-save").click()
    expect(page.get_by_test_id("secret-error")).to_contain_text("key")
    page.get_by_label("Key (environment variable name)").fill("UI_TOKEN")
    page.get_by_test_id("secret-save").click()
    row = page.get_by_test_id("secret-UI_TOKEN")
    expect(row).to_contain_text("hidden")
    stored = ui_server.api.get("/api/secrets/UI_TOKEN").json()
    assert stored["value"] == value and stored["is_secret"] is True
    shoot(page, ui_server, "secrets")
    page.reload()
    expect(page.get_by_test_id("secret-UI_TOKEN")).to_be_visible()
    assert value not in page.content()
    assert received and not [f for f in received if value in f]
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    html = httpx.get(ui_server.url + "/secrets", cookies=cookies).text
    assert "UI_TOKEN" in html and value not in html
    # A viewer sees the keys, and cannot change anything.
    ui_server.api.post(
        "/api/users", json={"username": "ui-viewer", "password": "viewer-pass-1", "role": "viewer"}
    )
    viewer = browser.new_context(base_url=ui_server.url).new_page()
    login(viewer, "/secrets", user="ui-viewer", password="viewer-pass-1")
    expect(viewer.get_by_test_id("secret-UI_TOKEN")).to_be_visible()
    expect(viewer.get_by_test_id("secret-new")).to_be_disabled()
    expect(
        viewer.get_by_test_id("secret-UI_TOKEN").get_by_test_id("secret-delete")
    ).to_be_disabled()
    viewer.context.close()
    # Delete asks first; "Keep" keeps it.
    page.get_by_test_id("secret-UI_TOKEN").get_by_test_id("secret-delete").click()
    page.get_by_test_id("secret-delete-confirm-keep").click()
    assert ui_server.api.get("/api/secrets/UI_TOKEN").status_code == 200
    page.get_by_test_id("secret-UI_TOKEN").get_by_test_id("secret-delete").click()
    page.get_by_test_id("secret-delete-confirm").click()
    expect(page.get_by_test_id("secret-UI_TOKEN")).to_be_hidden()
    assert ui_server.api.get("/api/secrets/UI_TOKEN").status_code == 404
    assert not [f for f in received if value in f]


def test_sync_from_the_dashboard_and_the_sync_page(ui_server: UiServer, page: Any) -> None:
    dev = ui_server.pipelines.parent / "dev"
    name = f"synced_{ui_server.port}"
    (dev / f"{name}.py").write_text('print("synced")\n')
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", f"add {name}")
    git(dev, "push", "-q", "origin", "HEAD:main")
    head = git(dev, "rev-parse", "HEAD")
    login(page)
    expect(page.get_by_test_id("workers")).to_contain_text("Embedded")
    expect(page.get_by_test_id("sync-line")).to_contain_text("main @")
    page.get_by_test_id("sync-card").get_by_test_id("sync-now").click()
    expect(
        page.get_by_text(re.compile(rf"Synced main at {head[:10]}.*new: {name}"))
    ).to_be_visible()
    expect(page.get_by_test_id("sync-line")).to_contain_text(head[:10])
    expect(page.get_by_test_id(f"pipeline-{name}")).to_be_visible()
    shoot(page, ui_server, "dashboard-synced")
    page.goto("/sync")
    expect(page.get_by_test_id("sync-result")).to_contain_text("ok")
    expect(page.get_by_test_id("sync-Remote")).to_contain_text("remote.git")
    expect(page.get_by_test_id("sync-Commit")).to_contain_text(f"{head[:10]} add {name}")
    # A branch the remote does not have: the API's 422 message as a toast.
    page.get_by_label("Branch (empty: default)").fill("no-such-branch")
    page.get_by_test_id("sync-now").click()
    expect(page.get_by_text("does not exist on the remote")).to_be_visible()
    expect(page.get_by_test_id("sync-result")).to_contain_text("failed")
    expect(page.get_by_test_id("sync-error")).to_contain_text("no-such-branch")
    assert no_horizontal_overflow(page)
    shoot(page, ui_server, "sync")


def test_new_pages_on_a_phone(ui_server: UiServer, page: Any) -> None:
    login(page, "/schedules")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/schedules", "/secrets", "/sync", "/"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert no_horizontal_overflow(page), path
        shoot(page, ui_server, "phone" + (path.replace("/", "-") if path != "/" else "-dashboard"))


def test_dashboard_backup_tile(ui_server: UiServer, page: Any) -> None:
    login(page)
    expect(page.get_by_test_id("backup-last")).to_contain_text("No backup yet in")
    expect(page.get_by_test_id("backup-schedule")).to_contain_text(
        "Not scheduled: set FASTFLOW_BACKUP_INTERVAL"
    )
    shoot(page, ui_server, "dashboard-backups")
