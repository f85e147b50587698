"""The log viewer, run page and runs page in a real browser: what only a browser shows —
colours rendered, no escape codes, folded sections, line links, a ticking duration, filters in
the URL, and artifact previews that cannot run script."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.support.server import wait_for_run
from tests.support.ui import UiServer, login, no_horizontal_overflow, shoot

expect = pytest.importorskip("playwright.sync_api").expect

GREEN = "rgb(34, 197, 94)"  # .ff-a-fg2
ERROR_RED = "rgb(248, 113, 113)"  # .ff-v-error
WARNING_AMBER = "rgb(251, 191, 36)"  # .ff-v-warning


def dark(page: Any, server: UiServer, name: str) -> None:
    """The same page in the dark theme (it follows the system's), for a screenshot."""
    page.emulate_media(color_scheme="dark")
    page.reload()
    expect(page.locator("body.body--dark")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    shoot(page, server, f"{name}-dark")
    page.emulate_media(color_scheme="light")


def _color(locator: Any) -> str:
    return str(locator.evaluate("el => getComputedStyle(el).color"))


def test_colours_levels_sections_and_line_links(ui_server: UiServer, page: Any) -> None:
    run_id = ui_server.start_run("showcase", PAUSE="0")
    assert wait_for_run(ui_server.api, run_id)["status"] == "SUCCESS"
    login(page, f"/runs/{run_id}")
    log = page.get_by_test_id("log")
    expect(log).to_contain_text("showcase finished")
    text = log.inner_text()
    for raw in ("\x1b", "[0m", "[31m", "[2K", "]0;", "::group::", "::endgroup::", "::progress"):
        assert raw not in text, raw
    assert "evil title" not in text and page.title() != "evil title"
    # Colours are rendered, and lines are coloured by their level.
    assert _color(log.get_by_text("green", exact=True)) == GREEN
    assert _color(log.locator(".ff-line", has_text="an error inside a section")) == ERROR_RED
    assert _color(log.locator(".ff-line", has_text="a warning line")) == WARNING_AMBER
    # Sections fold, with their duration; one holding an error stays open.
    groups = log.get_by_test_id("log-group")
    expect(groups).to_have_count(2)
    install, build = groups.nth(0), groups.nth(1)
    expect(install.locator("summary")).to_contain_text(
        re.compile(r"Install dependencies\s*\d+\.\ds")
    )
    assert install.evaluate("el => el.open") is False
    assert build.evaluate("el => el.open") is True
    install.locator("summary").click()
    expect(install.get_by_text("installing package 4")).to_be_visible()
    shoot(page, ui_server, "run-log-viewer")
    # Toggles: timestamps on, line numbers off, wrapping off.
    first = log.locator(".ff-line").first
    page.get_by_test_id("toggle-timestamps").click()
    expect(log).to_have_class(re.compile(r"ff-show-ts"))
    stamp = first.locator(".ff-ln").evaluate("a => getComputedStyle(a, '::after').content")
    assert re.fullmatch(r'"\d\d:\d\d:\d\d\.\d{3}"', stamp), stamp
    page.get_by_test_id("toggle-line-numbers").click()
    expect(log).to_have_class(re.compile(r"ff-hide-ln"))
    page.get_by_test_id("toggle-wrap").click()
    expect(log).to_have_class(re.compile(r"ff-nowrap"))
    shoot(page, ui_server, "run-log-toggles")
    dark(page, ui_server, "run-log-viewer")
    # A link to a line: opening it scrolls to the line and marks it.
    seq = log.locator(".ff-line", has_text="a warning line").get_attribute("data-n")
    page.goto(f"/runs/{run_id}#L{seq}")
    marked = page.locator(f"#L{seq}")
    expect(marked).to_have_class(re.compile(r"ff-marked"))
    expect(marked).to_be_in_viewport()


def test_burst_load_earlier_and_search_in_place(ui_server: UiServer, page: Any) -> None:
    run_id = ui_server.start_run("showcase", PAUSE="0", BURST="9000")
    assert wait_for_run(ui_server.api, run_id)["status"] == "SUCCESS"
    login(page, f"/runs/{run_id}")
    log = page.get_by_test_id("log")
    expect(log).to_contain_text("showcase finished")
    # Opened after a burst: the recent past, and a way to earlier lines — not a silent middle.
    expect(log.locator(".ff-line", has_text=re.compile(r"burst line 9000$"))).to_be_attached()
    expect(log.locator(".ff-line", has_text=re.compile(r"burst line 1000$"))).to_have_count(0)
    top = log.locator(".ff-gap-top")
    expect(top).to_contain_text("not shown")
    before = log.locator(".ff-line").count()
    top.get_by_test_id("log-load").click()
    expect(log.locator(".ff-line")).not_to_have_count(before)
    assert log.locator(".ff-line").count() > before
    shoot(page, ui_server, "run-log-earlier")
    # Search: results with line numbers; a hit opens in place (fetched when not on screen).
    page.get_by_test_id("log-search").fill("burst line 1777")
    page.get_by_test_id("log-search-go").click()
    hit = page.get_by_test_id("search-hit")
    expect(hit).to_have_count(1)
    expect(page.get_by_test_id("search-results")).to_contain_text("1 matching lines")
    hit.click()
    target = log.locator(".ff-marked")
    expect(target).to_contain_text("burst line 1777")
    expect(target).to_be_in_viewport()
    assert page.url.endswith("#" + str(hit.inner_text()))


def test_live_duration_ticks_and_health(ui_server: UiServer, page: Any) -> None:
    run_id = ui_server.start_run("sleeper", SECONDS_TO_RUN="60")
    login(page, f"/runs/{run_id}")
    expect(page.get_by_test_id("log")).to_contain_text("tick 1")
    field = page.get_by_test_id("field-Duration")
    expect(field).to_have_attribute("data-ff-since", re.compile(r"\d"))
    first = field.inner_text()
    expect(field).not_to_have_text(first)  # ticks in the browser, no reload
    expect(page.get_by_test_id("health")).to_contain_text("Last output")
    expect(page.get_by_test_id("since-output")).to_have_text(re.compile(r"^\d+\.\ds$"))
    shoot(page, ui_server, "run-live-health")
    page.set_viewport_size({"width": 390, "height": 844})
    # On a phone the log comes before the run's fields.
    log_top = page.get_by_test_id("log").bounding_box()["y"]
    fields_top = page.get_by_test_id("field-Run ID").bounding_box()["y"]
    assert log_top < fields_top
    assert no_horizontal_overflow(page)
    shoot(page, ui_server, "phone-run-live")
    ui_server.api.post(f"/api/runs/{run_id}/cancel").raise_for_status()
    assert wait_for_run(ui_server.api, run_id)["status"] == "CANCELLED"


def test_artifact_previews_cannot_run_script(ui_server: UiServer, page: Any) -> None:
    run_id = ui_server.start_run("showcase", PAUSE="0")
    assert wait_for_run(ui_server.api, run_id)["status"] == "SUCCESS"
    login(page, f"/runs/{run_id}")
    buttons = page.get_by_test_id("artifact-preview")
    expect(buttons).to_have_count(6)  # every kind but the SVG
    for i in range(6):
        buttons.nth(i).click()
    frame = page.get_by_test_id("preview-html")
    expect(frame).to_be_visible()
    expect(page.frame_locator("[data-testid=preview-html]").locator("h1")).to_have_text("hello")
    expect(page.get_by_test_id("preview-markdown")).to_contain_text("<script>")  # as text
    expect(page.get_by_test_id("preview-csv")).to_contain_text("<b>bob</b>")
    image = page.get_by_test_id("preview-image")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 64
    # Lines off screen are not painted (content-visibility): the log in view for the shot.
    page.evaluate("window.scrollTo(0, 0)")
    shoot(page, ui_server, "run-artifacts")
    assert page.evaluate("window.ffPwned") is None
    assert page.title() != "pwned"
    dark(page, ui_server, "run-artifacts-closed")
    # Opened directly, the file route still runs nothing (CSP sandbox), and SVG is a download.
    page.goto(f"/ui/runs/{run_id}/files/page.html?inline=1")
    expect(page.locator("h1")).to_have_text("hello")
    assert page.evaluate("window.ffPwned") is None and page.title() != "pwned"
    svg = page.request.get(f"/ui/runs/{run_id}/files/logo.svg?inline=1")
    assert svg.headers["content-type"] == "application/octet-stream"
    assert svg.headers["content-disposition"].startswith("attachment")


def test_runs_page_filters_in_the_url_and_live_rows(ui_server: UiServer, page: Any) -> None:
    done = ui_server.start_run("showcase", PAUSE="0")
    assert wait_for_run(ui_server.api, done)["status"] == "SUCCESS"
    login(page, "/runs")
    table = page.get_by_test_id("runs-table")
    expect(table).to_contain_text(done[:8])
    page.get_by_test_id("filter-status").click()
    page.get_by_role("option", name="SUCCESS").click()
    page.keyboard.press("Escape")
    expect(page).to_have_url(re.compile(r"/runs\?status=SUCCESS$"))
    # The URL is the view: opened afresh, the filter is set and the rows follow it.
    page.goto("/runs?status=FAILED")
    expect(page.get_by_test_id("filter-status")).to_contain_text("FAILED")
    expect(table).not_to_contain_text(done[:8])
    page.goto("/runs?pipeline=showcase")
    expect(table).to_contain_text(done[:8])
    created = table.get_by_test_id("run-created").first
    expect(created).to_have_text(re.compile(r"just now|\d+ min ago"))
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", created.get_attribute("title"))
    expect(table).to_contain_text("All done")  # the progress column
    expect(page.get_by_test_id("runs-chart").locator("canvas")).to_have_count(1)
    # Live: a run started elsewhere shows up without a reload.
    new = ui_server.start_run("showcase", PAUSE="0")
    expect(table).to_contain_text(new[:8])
    shoot(page, ui_server, "runs-live")
    dark(page, ui_server, "runs")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/runs")
    expect(table).to_contain_text(new[:8])
    shoot(page, ui_server, "phone-runs")
