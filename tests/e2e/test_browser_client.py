"""The served JavaScript client in headless Chromium: the browser's own EventSource and
WebSocket, several viewers of one live run, hang-ups with resume, gaps filled over REST."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import LiveServer
from tests.support.services import service_missing
from tests.support.ui import CHROMIUM
from tests.support.ui import CHROMIUM_ARGS as ARGS

FOLLOW_JS = """
async ({runId, token, transport, dropAfter}) => new Promise((resolve, reject) => {
  const lines = [];
  const kinds = new Set();
  let dropped = false;
  const s = new FastflowRunStream(runId, {token, transport});
  s.on("log", (l) => {
    lines.push([l.seq, l.line]);
    if (dropAfter && !dropped && lines.length >= dropAfter) {
      dropped = true;
      s.disconnect();                         // hang up mid-stream …
      setTimeout(() => s.connect(), 50);      // … and resume after the last seq handled
    }
  });
  for (const k of ["status", "metrics", "connected"]) s.on(k, () => kinds.add(k));
  s.on("end", (c) => resolve({lines, complete: c, kinds: [...kinds]}));
  s.on("close", (c) => reject(new Error("closed: " + JSON.stringify(c))));
  s.connect();
})
"""


@pytest.fixture
def page(server: LiveServer) -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        service_missing("Chromium", f"{CHROMIUM} missing; run scripts/browser.sh")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page()
        page.goto(f"{server.url}/health")  # same origin as the API
        page.add_script_tag(url="/static/fastflow-client.js")
        yield page
        browser.close()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_browser_clients_get_every_line_once_in_order(
    server: LiveServer, page: Any, tmp_path: Path
) -> None:
    token = server.login()
    gate = tmp_path / "gate"
    lines = 3000  # over the default 100 lines/s: gaps are fetched by the client
    with server.client(token) as client:
        r = client.post(
            "/api/pipelines/counter/run",
            json={"parameters": {"LINES": lines, "GATE": str(gate), "PAUSE": 0.002}},
        )
        run_id = r.json()["id"]
    page.evaluate(
        f"(all) => {{ window.results = Promise.all(all.map({FOLLOW_JS})); }}",
        [
            {"runId": run_id, "token": token, "transport": t, "dropAfter": d}
            for t in ("sse", "websocket")
            for d in (0, 1000)
        ],
    )
    _wait_viewers(server, token, run_id, 4)
    gate.touch()
    results = page.evaluate("window.results")
    for result in results:
        texts = [t for _, t in result["lines"] if t.startswith("line ")]
        assert texts == [f"line {i}" for i in range(1, lines + 1)]
        seqs = [s for s, _ in result["lines"]]
        assert seqs == sorted(set(seqs))
        assert result["complete"]["success"] is True
        assert {"connected", "status"} <= set(result["kinds"])

    # A finished run replays fully in the browser too.
    replay = page.evaluate(
        f"(a) => ({FOLLOW_JS})(a)",
        {"runId": run_id, "token": token, "transport": "websocket", "dropAfter": 0},
    )
    assert [t for _, t in replay["lines"] if t.startswith("line ")] == [
        f"line {i}" for i in range(1, lines + 1)
    ]


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_browser_without_a_token_gets_a_close_reason(server: LiveServer, page: Any) -> None:
    result = page.evaluate(
        """(runId) => new Promise((resolve) => {
            const s = new FastflowRunStream(runId, {transport: "websocket"});
            s.on("close", resolve);
            s.connect();
        })""",
        "somerun",
    )
    assert result["code"] == 4401 and "authenticated" in result["reason"]


def _wait_viewers(server: LiveServer, token: str, run_id: str, count: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        streams = httpx.get(
            f"{server.url}/api/streams", headers={"Authorization": f"Bearer {token}"}
        ).json()["streams"]
        if any(s["run_id"] == run_id and s["clients"] >= count for s in streams):
            return
        time.sleep(0.05)
    raise AssertionError("the browser's streams never attached")
