"""The web console under test: a real `fastflow serve` subprocess and headless Chromium.

NiceGUI is one per process, so each UI server is its own process (as in production), never
the in-process test server. The browser is Debian's chromium driven by Playwright through
`executable_path`; `scripts/browser.sh` installs it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, free_port, serve_process

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("FASTFLOW_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = ROOT / "test-output" / "screenshots"
# ms: how long the browser waits for something to appear before failing — generous, as the
# test files run in parallel and a first page load on a busy machine can take long.
WAIT = 90_000


class UiServer:
    """`fastflow serve` with the UI on, its own folders, and an API client as admin."""

    def __init__(
        self,
        folder: Path,
        pipelines: Path,
        database_url: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.pipelines = pipelines
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = folder / f"serve-{self.port}.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTFLOW_", "DATABASE"))}
        # Not a pytest process: NiceGUI changes behaviour when it believes it runs under pytest.
        env.pop("PYTEST_CURRENT_TEST", None)
        env.update(
            PIPELINES_DIR=str(pipelines),
            DATA_DIR=str(folder / "data"),
            LOGS_DIR=str(folder / "logs"),
            FASTFLOW_ADMIN_USER=ADMIN_USER,
            FASTFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
            FASTFLOW_CANCEL_GRACE_SECONDS="2",
            FASTFLOW_METRICS_INTERVAL="0.25",
            FASTFLOW_UI="true",
        )
        if database_url:
            env["DATABASE_URL"] = database_url
        env["FASTFLOW_PUBLIC_URL"] = self.url
        env.update(extra_env or {})
        self.proc = serve_process(self.port, env, self.log, cwd=folder)
        token = httpx.post(
            f"{self.url}/api/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        ).json()["access_token"]
        self.api = httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def start_run(self, pipeline: str, **parameters: Any) -> str:
        r = self.api.post(f"/api/pipelines/{pipeline}/run", json={"parameters": parameters})
        r.raise_for_status()
        return str(r.json()["id"])

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        self.api.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def login(page: Any, next_path: str = "/", user: str = ADMIN_USER, password: str = "") -> None:
    """Open `next_path`, get sent to the login page, log in, land back on `next_path`."""
    from playwright.sync_api import expect

    page.goto(next_path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    username = page.get_by_label("Username")
    try:
        expect(username).to_be_visible(timeout=30_000)
    except AssertionError:
        # Seen once in hundreds of loads on a loaded CI machine: the page's URL arrived but
        # its content never rendered. Load it once more; a page that never renders still fails.
        page.reload()
    username.fill(user)
    page.get_by_label("Password").fill(password or ADMIN_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(re.escape(next_path) + "$"))


def shoot(
    page: Any, server: UiServer, name: str, full_page: bool = True, dialog: bool = False
) -> None:
    """A screenshot under test-output/screenshots/, named by page and database."""
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    if not dialog:
        # Not in the middle of a dialog's closing animation.
        expect(page.locator(".q-dialog__backdrop")).to_have_count(0)
    db = "pg" if "postgres" in server.output() or "PostgresqlImpl" in server.output() else "sqlite"
    page.screenshot(path=str(SCREENSHOTS / f"{name}-{db}.png"), full_page=full_page)


def no_horizontal_overflow(page: Any, settle_ms: int = 10_000) -> bool:
    """Whether the page fits its width once the layout has settled: right after a resize the
    drawer is still sliding away (a transient overflow), so wait up to `settle_ms` for the
    page to fit; a page that never fits is False."""
    fits = "document.documentElement.scrollWidth <= window.innerWidth + 1"
    try:
        page.wait_for_function(fits, timeout=settle_ms)
    except Exception:  # Playwright's TimeoutError: it never fitted
        return False
    return bool(page.evaluate(fits))
