"""What only a browser shows: the theme (following the system, toggled and remembered per
browser), keyboard shortcuts, a new API token shown once with a working copy button, and
screenshots of every console page in both themes and at phone width."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.server import ADMIN_PASSWORD, wait_for_run
from tests.support.ui import WAIT, UiServer, login, no_horizontal_overflow, shoot

expect = pytest.importorskip("playwright.sync_api").expect

PHONE = {"width": 390, "height": 844}


def _context(browser: Any, server: UiServer, scheme: str, **options: Any) -> Any:
    options.setdefault("viewport", {"width": 1400, "height": 900})
    context = browser.new_context(base_url=server.url, color_scheme=scheme, **options)
    context.set_default_timeout(WAIT)
    return context


@pytest.fixture
def dark_page(browser: Any, ui_server: UiServer) -> Iterator[Any]:
    context = _context(browser, ui_server, "dark")
    yield context.new_page()
    context.close()


def _is_dark(page: Any) -> bool:
    return bool(page.evaluate("document.body.classList.contains('body--dark')"))


def test_theme_follows_the_system_and_a_choice_is_remembered(
    ui_server: UiServer, dark_page: Any
) -> None:
    page = dark_page
    login(page, "/pipelines")
    expect(page.locator("body.body--dark")).to_have_count(1)  # the system says dark
    toggle = page.get_by_test_id("theme-toggle")
    toggle.click()  # system → dark
    expect(page.get_by_text("Theme: dark")).to_be_visible()
    assert _is_dark(page)
    toggle.click()  # dark → light
    expect(page.locator("body.body--dark")).to_have_count(0)
    page.reload()
    expect(page.get_by_test_id("pipelines-table")).to_be_visible()
    expect(page.locator("body.body--dark")).to_have_count(0)  # remembered by this browser
    expect(page.get_by_test_id("theme-toggle")).to_contain_text("light_mode")
    assert page.evaluate("localStorage.getItem('fastflow-theme')") == "light"
    page.get_by_test_id("theme-toggle").click()  # light → system (dark again)
    expect(page.locator("body.body--dark")).to_have_count(1)
    assert page.evaluate("localStorage.getItem('fastflow-theme')") is None


def test_keyboard_shortcuts(ui_server: UiServer, page: Any) -> None:
    login(page, "/")
    page.wait_for_load_state("networkidle")
    page.keyboard.press("g")
    page.keyboard.press("r")
    expect(page).to_have_url(re.compile(r"/runs$"))
    page.wait_for_load_state("networkidle")
    page.keyboard.press("g")
    page.keyboard.press("s")
    expect(page).to_have_url(re.compile(r"/schedules$"))
    page.wait_for_load_state("networkidle")
    # `/` goes to the search box; a pipeline's name and Enter open its page.
    page.keyboard.press("/")
    search = page.get_by_test_id("search")  # the input itself carries the attributes
    expect(search).to_be_focused()
    # Typing in a field is typing, not shortcuts.
    search.type("gp")
    expect(page).to_have_url(re.compile(r"/schedules$"))
    search.fill("hello")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"/pipelines/hello$"))
    page.wait_for_load_state("networkidle")
    page.keyboard.press("?")
    expect(page.get_by_test_id("shortcuts")).to_contain_text("Keyboard shortcuts")
    expect(page.get_by_test_id("shortcuts")).to_contain_text("grruns")  # keys, then words
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("shortcuts")).to_have_count(0)


def test_new_token_is_shown_once_and_copied(browser: Any, ui_server: UiServer) -> None:
    context = _context(browser, ui_server, "light")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=ui_server.url)
    page = context.new_page()
    try:
        login(page, "/tokens")
        page.get_by_test_id("token-name").fill("copied-in-browser")
        page.get_by_test_id("token-create-button").click()
        shown = page.get_by_test_id("once-value")
        expect(shown).to_have_text(re.compile(r"\S{20,}"))
        token = shown.inner_text().strip()
        page.get_by_test_id("once-copy").click()
        expect(page.get_by_text("Copied", exact=True)).to_be_visible()
        assert page.evaluate("navigator.clipboard.readText()") == token
        me = ui_server.api.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
        assert me.status_code == 200
        page.get_by_test_id("once-close").click()
        expect(page.get_by_test_id("once-value")).to_have_count(0)
        assert token not in page.content()
        page.reload()
        expect(page.get_by_test_id("token-copied-in-browser")).to_be_visible()
        assert token not in page.content()
    finally:
        context.close()


def _seed(server: UiServer) -> str:
    """Something on every page: runs, a schedule, a webhook, a hook, a user, a build."""
    api = server.api
    run_id = server.start_run("hello", NAME="screenshots")
    wait_for_run(api, run_id)
    if not api.get("/api/schedules").json():
        api.post(
            "/api/schedules",
            json={"pipeline_name": "hello", "trigger_type": "CRON", "trigger_value": "0 6 * * 1-5"},
        )
    if not api.get("/api/webhooks/outbound").json():
        api.post("/api/webhooks/outbound", json={"url": "http://127.0.0.1:9/notify"})
        api.post("/api/webhooks/inbound", json={"pipeline": "hello"})
    if not any(u["username"] == "vera" for u in api.get("/api/users").json()):
        api.post(
            "/api/users", json={"username": "vera", "password": ADMIN_PASSWORD, "role": "viewer"}
        )
        api.post("/api/auth/tokens", json={"name": "ci-deploy"})
    if not api.get("/api/builds").json()["items"]:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr("main.py", '"""An uploaded build."""\nprint("built")\n')
        api.post(
            "/api/builds",
            files={"file": ("report.zip", buf.getvalue(), "application/zip")},
            data={"name": "adhoc-report"},
        )
    return run_id


# 13 pages, 2 themes, 2 widths: longer than one page's test on a busy machine.
@pytest.mark.timeout(900)
def test_screenshots_of_every_page_in_both_themes_and_on_a_phone(
    browser: Any, ui_server: UiServer
) -> None:
    run_id = _seed(ui_server)
    pages = {
        "dashboard": "/",
        "pipelines": "/pipelines",
        "pipeline": "/pipelines/hello",
        "runs": "/runs",
        "run": f"/runs/{run_id}",
        "schedules": "/schedules",
        "builds": "/builds",
        "secrets": "/secrets",
        "sync": "/sync",
        "tokens": "/tokens",
        "users": "/admin/users",
        "webhooks": "/admin/webhooks",
    }
    for scheme in ("light", "dark"):
        for size, options in (("wide", {}), ("phone", {"viewport": PHONE, "is_mobile": True})):
            context = _context(browser, ui_server, scheme, **options)
            page = context.new_page()
            try:
                page.goto("/login")
                shoot(page, ui_server, f"all-login-{scheme}-{size}")
                login(page, "/")
                for name, path in pages.items():
                    page.goto(path)
                    page.wait_for_load_state("networkidle")
                    expect(page.get_by_test_id("breadcrumbs")).to_be_visible()
                    assert _is_dark(page) is (scheme == "dark"), (name, scheme)
                    if size == "phone":
                        assert no_horizontal_overflow(page), (name, scheme)
                    shoot(page, ui_server, f"all-{name}-{scheme}-{size}")
                if size == "phone":
                    page.goto("/")
                    page.get_by_test_id("menu").click()
                    expect(page.get_by_test_id("nav-Users")).to_be_visible()
                    shoot(page, ui_server, f"all-menu-{scheme}-{size}")
            finally:
                context.close()
