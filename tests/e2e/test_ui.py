"""The web console in a real browser (headless Chromium via Playwright) against `fastflow serve`.

One server per module and database (SQLite and PostgreSQL), a fresh browser context (no
cookies) per test. Screenshots of the main pages go to test-output/screenshots/.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.integration.test_api_auth import assert_every_api_route_needs_auth
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, wait_for_run
from tests.support.ui import UiServer, login, no_horizontal_overflow, shoot

expect = pytest.importorskip("playwright.sync_api").expect

PAGES = [
    "/",
    "/runs",
    "/runs/0123abcd",
    "/pipelines",
    "/pipelines/hello",
    "/schedules",
    "/secrets",
    "/sync",
    "/no-such-page",
]


def test_login_wall_holds_for_every_page(ui_server: UiServer, page: Any) -> None:
    for path in [*PAGES, "/ui/runs/0123abcd/log", "/ui/runs/0123abcd/metrics"]:
        r = httpx.get(ui_server.url + path, follow_redirects=False)
        assert r.status_code == 303, (path, r.status_code)
        assert r.headers["location"].startswith("/login?next="), path
        # A forged session cookie does not get in either.
        with httpx.Client(cookies={"fastflow_session": "forged"}, follow_redirects=True) as forged:
            assert forged.get(ui_server.url + path).url.path == "/login", path
    for path in PAGES:
        page.goto(path)
        expect(page).to_have_url(re.compile(r"/login\?next="))
        expect(page.get_by_role("button", name="Log in")).to_be_visible()
    # The UI adds no route to the API's schema, and the API still wants a token everywhere.
    assert_every_api_route_needs_auth(ui_server.url)
    assert httpx.get(ui_server.url + "/api/no-such-route").json()["detail"]


def test_wrong_password_stays_out_then_login_and_logout(ui_server: UiServer, page: Any) -> None:
    page.goto("/runs")
    page.get_by_label("Username").fill(ADMIN_USER)
    page.get_by_label("Password").fill("wrong-password")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("invalid username or password")).to_be_visible()
    shoot(page, ui_server, "login")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_label("Password").press("Enter")
    expect(page).to_have_url(re.compile(r"/runs$"))  # back where the wall stopped us
    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(re.compile(r"/login"))
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login\?next="))


def test_start_the_demo_pipeline_from_the_dashboard(ui_server: UiServer, page: Any) -> None:
    login(page)
    card = page.get_by_test_id("pipeline-hello")
    expect(card).to_be_visible()
    # Whether runs are sandboxed is on the dashboard (as the server probed it at start).
    expect(page.get_by_test_id("sandbox")).to_contain_text("sandboxed")
    shoot(page, ui_server, "dashboard")
    assert no_horizontal_overflow(page)
    card.get_by_role("button", name="Start").click()
    page.get_by_label("NAME").fill("Browser")
    shoot(page, ui_server, "start-dialog", full_page=False, dialog=True)
    page.get_by_test_id("start-confirm").click()
    expect(page).to_have_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    log = page.get_by_test_id("log")
    expect(log).to_contain_text("Hello, Browser!")
    expect(page.get_by_test_id("run-status")).to_contain_text("SUCCESS")
    expect(page.get_by_test_id("field-Trigger")).to_have_text("manual by admin")
    run_id = page.url.rsplit("/", 1)[1]
    run = ui_server.api.get(f"/api/runs/{run_id}").json()
    assert run["parameters"] == {"NAME": "Browser"}


def test_lines_appear_live_on_the_run_page(ui_server: UiServer, page: Any) -> None:
    login(page)
    run_id = ui_server.start_run("long_progress", STEPS="12", DELAY="0.5")
    page.goto(f"/runs/{run_id}")
    log = page.get_by_test_id("log")
    expect(log).to_contain_text("step 2/12")
    # Seen while the run is still going: the line came live, not from the finished file.
    assert ui_server.api.get(f"/api/runs/{run_id}").json()["status"] == "RUNNING"
    expect(page.get_by_test_id("run-status")).to_contain_text("RUNNING")
    expect(log).not_to_contain_text("done")
    shoot(page, ui_server, "run-live")
    expect(log).to_contain_text("done", timeout=60_000)
    expect(page.get_by_test_id("run-status")).to_contain_text("SUCCESS")
    text = log.inner_text()
    steps = [int(m) for m in re.findall(r"step (\d+)/12", text)]
    assert steps == list(range(1, 13)), text  # every line once, in order
    assert "::progress" not in text
    assert page.get_by_test_id("progress").get_attribute("aria-valuenow") in ("1", "100")
    assert no_horizontal_overflow(page)
    shoot(page, ui_server, "run-finished")


def test_cancel_a_long_run(ui_server: UiServer, page: Any) -> None:
    login(page)
    run_id = ui_server.start_run("sleeper", SECONDS_TO_RUN="120")
    page.goto(f"/runs/{run_id}")
    expect(page.get_by_test_id("log")).to_contain_text("tick 3")
    page.get_by_test_id("cancel").click()
    expect(page.get_by_text("Cancel requested", exact=True)).to_be_visible()
    expect(page.get_by_test_id("run-status")).to_contain_text("CANCELLED")
    expect(page.get_by_test_id("cancel")).to_be_hidden()
    expect(page.get_by_test_id("retry")).to_be_visible()
    assert wait_for_run(ui_server.api, run_id)["status"] == "CANCELLED"


def test_filter_runs(ui_server: UiServer, page: Any) -> None:
    ids = {
        "failing": ui_server.start_run("failing"),
        "hello": ui_server.start_run("hello", NAME="filter"),
    }
    for run_id in ids.values():
        wait_for_run(ui_server.api, run_id)
    login(page, "/runs")
    table = page.get_by_test_id("runs-table")
    expect(table).to_contain_text(ids["failing"][:8])
    page.get_by_test_id("filter-status").click()
    page.get_by_role("option", name="FAILED").click()
    page.keyboard.press("Escape")
    expect(table).to_contain_text(ids["failing"][:8])
    expect(table).not_to_contain_text(ids["hello"][:8])
    for row in table.locator("tbody tr").all():
        assert "FAILED" in row.inner_text()
    shoot(page, ui_server, "runs-filtered")
    # A link from elsewhere (the dashboard's "Runs" button) preselects the pipeline.
    page.goto("/runs?pipeline=hello")
    expect(table).to_contain_text(ids["hello"][:8])
    expect(table).not_to_contain_text(ids["failing"][:8])
    for row in table.locator("tbody tr").all():
        assert "hello" in row.inner_text()
    # A time range in the future has no runs.
    page.get_by_label("From").fill("2999-01-01")
    expect(table).not_to_contain_text(ids["hello"][:8])


def test_rate_limited_lines_are_marked_with_a_link_to_fetch_them(
    ui_server: UiServer, page: Any
) -> None:
    login(page)
    run_id = ui_server.start_run("chatty", LINES_PER_SECOND="20000", SECONDS="2")
    page.goto(f"/runs/{run_id}")
    gap = page.get_by_test_id("log-gap").first
    expect(gap).to_be_visible()
    href = gap.get_by_role("link").get_attribute("href")
    shoot(page, ui_server, "run-gap")
    expect(page.get_by_test_id("log")).to_contain_text("chatty done", timeout=60_000)
    assert href and "from_seq=" in href
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    with httpx.Client(cookies=cookies) as session:
        r = session.get(ui_server.url + href)
    assert r.status_code == 200
    assert re.search(r"line \d+ of a chatty pipeline", r.text)
    assert wait_for_run(ui_server.api, run_id)["status"] == "SUCCESS"


def test_pipeline_page_and_phone_layout(ui_server: UiServer, page: Any) -> None:
    run_id = ui_server.start_run("hello")
    assert wait_for_run(ui_server.api, run_id)["status"] == "SUCCESS"
    login(page, "/pipelines/hello")
    expect(page.get_by_test_id("stat-Total")).to_be_visible()
    # How its latest run started: forked from a warm interpreter (FASTFLOW_WARM_START=auto).
    expect(
        page.get_by_text("warm: forked from a warm interpreter (preload: nothing)")
    ).to_be_visible()
    shoot(page, ui_server, "pipeline")
    page.get_by_test_id("reset-stats").click()
    page.get_by_test_id("reset-confirm").click()
    expect(page.get_by_text(re.compile(r"since reset at \d{4}-"))).to_be_visible()
    expect(page.get_by_test_id("stat-Total")).to_have_text("0")
    page.goto("/pipelines")
    expect(page.get_by_test_id("pipelines-table")).to_contain_text("long_progress")
    shoot(page, ui_server, "pipelines")
    page.set_viewport_size({"width": 390, "height": 844})
    for path in ("/", "/runs", "/pipelines/hello"):
        page.goto(path)
        page.wait_for_load_state("networkidle")
        assert no_horizontal_overflow(page), path
    shoot(page, ui_server, "phone-pipeline")
