"""The original requests' browser clients in headless Chromium, on a frontend of their own.

The page (tests/fixtures/frontend/index.html) is served from another origin than fastflow's,
loads the shipped client from fastflow, and calls the API the way the documents do: the live
build monitor with `BuildLogStream` (through a proxy that drops every connection mid-build:
no line lost or repeated), the job tracker (fetch, EventSource.onmessage, the `/ws` feed,
polling), the build upload (FormData), the log array. A page on an origin CORS does not
allow gets nothing.
"""

from __future__ import annotations

import functools
import http.server
import logging
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.original_clients import compat_server
from tests.support.server import LiveServer, free_port
from tests.support.services import service_missing
from tests.support.tcp_proxy import DroppingProxy
from tests.support.ui import CHROMIUM, CHROMIUM_ARGS

PAGE = Path(__file__).resolve().parents[1] / "fixtures" / "frontend" / "index.html"
FRONT_PORT = free_port()
FRONTEND = f"http://localhost:{FRONT_PORT}"  # allowed; http://127.0.0.1:{port} is not


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path) -> Iterator[LiveServer]:
    yield from compat_server(
        tmp_path_factory, "browser-clients", uv_cache, FASTFLOW_CORS_ORIGINS=FRONTEND
    )


@pytest.fixture(scope="module")
def proxy(live: LiveServer) -> Iterator[DroppingProxy]:
    port = int(live.url.rsplit(":", 1)[1])
    dropping = DroppingProxy(port)
    yield dropping
    dropping.close()


@pytest.fixture(scope="module")
def frontend(tmp_path_factory: pytest.TempPathFactory, proxy: DroppingProxy) -> Iterator[str]:
    """The page on its own little web server; the API it calls is fastflow via the proxy."""
    root = tmp_path_factory.mktemp("frontend")
    (root / "index.html").write_text(PAGE.read_text().replace("__API__", proxy.url))
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", FRONT_PORT), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield FRONTEND
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        service_missing("Chromium", f"{CHROMIUM} missing; run scripts/browser.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, frontend: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 900, "height": 640})
    page = context.new_page()
    page.goto(f"{frontend}/index.html")
    page.wait_for_function("typeof BuildLogStream === 'function'")
    yield page
    context.close()


def test_build_monitor_survives_a_dropped_connection(
    live: LiveServer, proxy: DroppingProxy, page: Any, tmp_path: Path
) -> None:
    token = live.login()
    gate = tmp_path / "gate"
    lines = 1500  # over the 100 lines/s limit: BuildLogStream fetches the rest over REST
    with live.client(token) as api:
        body = {
            "project_id": "app_build",
            "build_type": "flutter_android",
            "parameters": {"GATE": str(gate), "LINES": lines, "PAUSE": 0.02},
        }
        build_id = api.post("/build/start", json=body).json()["build_id"]
        page.evaluate("([id, token]) => monitor(id, token)", [build_id, token])
        _wait(lambda: {"build_id": build_id, "clients": 1} in _active(api))
        gate.touch()
        _wait(lambda: page.evaluate("seen.logs.length") >= 300)
        assert proxy.drop() >= 1  # mid-build: the browser's socket breaks
        _wait(lambda: page.evaluate("seen.complete") is not None, 60)
    seen = page.evaluate("seen")
    assert seen["reconnects"] >= 1
    fills = page.evaluate(
        "performance.getEntriesByType('resource').filter((e) => e.name.includes('from_seq')).length"
    )
    assert fills > 0  # lines over the rate limit came over REST, in place
    assert seen["logs"] == [
        "Starting flutter_android build...",
        *[f"line {i}" for i in range(1, lines + 1)],
        "Build completed successfully",
    ]
    assert seen["status"][0] == "RUNNING: 0%" and seen["status"][-1] == "SUCCESS: 100%"
    assert seen["complete"] == {"success": True, "artifacts": ["app-release.apk", "web/index.html"]}
    page.evaluate("document.getElementById('logs').scrollTop = 1e6")
    page.screenshot(path=str(tmp_path / "build-monitor.png"))

    # The build & logging plan's viewer: the same build's log as one array.
    logs = page.evaluate("([t, id]) => buildLogs(t, id)", [token, build_id])
    assert [e["text"] for e in logs] == seen["logs"]


def test_job_tracker_upload_and_server_log(live: LiveServer, page: Any) -> None:
    token = live.login()
    tracked = page.evaluate("([t]) => trackJob(t, 'app_build', {PAUSE: 0.25})", [token])
    assert tracked["job"]["status"] == "pending"
    updates = tracked["updates"]
    assert updates[-1]["status"] == "completed" and updates[-1]["progress"] == 100
    assert [u["progress"] for u in updates] == sorted(u["progress"] for u in updates)
    assert tracked["polled"]["result"]["artifacts"] == ["app-release.apk", "web/index.html"]
    assert tracked["feed"][-1]["status"] == "completed"

    done = page.evaluate("([t]) => uploadAndPoll(t, 'handler.py', 'print(\"hello\")')", [token])
    assert done["task"]["status"] == "pending"
    assert done["current"]["status"] == "completed" and done["current"]["app_name"] == "my-func"

    # The server's log as EventSource messages: the recent past first, so this record too.
    logging.getLogger("fastflow.frontend").warning("frontend-marker seen")
    line = page.evaluate("([t]) => serverLog(t)", [token])
    assert "WARNING fastflow.frontend: frontend-marker seen" in line


def test_a_page_on_another_origin_is_refused(live: LiveServer, page: Any) -> None:
    token = live.login()
    other = page.url.replace("localhost", "127.0.0.1")  # same page, an origin not allowed
    page.goto(other)
    page.wait_for_function("typeof startBuild === 'function'")
    error = page.evaluate(
        "([t]) => startBuild(t, 'app_build', 'web').then(() => 'allowed', (e) => String(e))",
        [token],
    )
    assert "Failed to fetch" in error
    allowed = page.evaluate("() => fetch(API + '/health').then((r) => r.status, String)")
    assert allowed != 200  # not even public routes are readable from there


def _active(api: httpx.Client) -> list[dict[str, Any]]:
    return list(api.get("/ws/active-builds").json()["active_builds"])


def _wait(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)
