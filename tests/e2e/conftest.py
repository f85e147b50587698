"""Browser fixtures for the console's tests: one `fastflow serve` per module and database
(SQLite and PostgreSQL) whose PIPELINES_DIR is a git clone, headless Chromium, and a fresh
browser context (no cookies) per test."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import EXAMPLES, TEST_PIPELINES
from tests.support.git import git
from tests.support.services import PostgresTemplate, passable_temp, service_missing
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS, WAIT, UiServer

try:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT)
except ImportError:  # the browser tests skip themselves
    pass


def _git_checkout(folder: Path) -> Path:
    """PIPELINES_DIR as a clone of a bare remote (for git sync), and a developer clone."""
    remote, dev, checkout = folder / "remote.git", folder / "dev", folder / "pipelines"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(dev)], check=True)
    git(dev, "checkout", "-q", "-b", "main")
    shutil.copytree(EXAMPLES, dev, dirs_exist_ok=True)
    for name in ("sleeper.py", "chatty.py", "showcase.py"):
        shutil.copy(TEST_PIPELINES / name, dev)
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", "pipelines")
    git(dev, "push", "-q", "origin", "HEAD:main")
    subprocess.run(["git", "clone", "-q", str(remote), str(checkout)], check=True)
    return checkout


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def ui_server(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    pg_template: PostgresTemplate | None,
) -> Iterator[UiServer]:
    folder = passable_temp(tmp_path_factory, f"ui-{request.param}")
    pipelines = _git_checkout(folder)
    url = None
    if request.param == "postgres":
        if pg_template is None:
            service_missing("PostgreSQL", "connection refused")
            return
        url = pg_template.clone()
    server = UiServer(folder, pipelines, url)
    try:
        yield server
    finally:
        server.stop()
        if url and pg_template:
            pg_template.drop(url)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        service_missing("chromium", f"{CHROMIUM} missing; run scripts/browser.sh")
    with playwright_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, ui_server: UiServer) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=ui_server.url)
    context.set_default_timeout(WAIT)
    pg = context.new_page()
    yield pg
    context.close()
