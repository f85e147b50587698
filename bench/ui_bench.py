"""The console in headless Chromium: the run page under load, a burst, a huge runs table.

Part 1, the run detail page under a run printing 10,000 lines/s: (a) click-response time: a
click on the page's search button until the browser has the server's answer (the search
result heading) — the round trip a user feels; (b) the page's JS heap over time (CDP
Performance.getMetrics), which must stay bounded (the viewer keeps MAX_LINES lines); (c) lines
in the viewer and gap markers. Parts 2 and 3 (bench/ui_pages.py): a 10,000-line burst — time
to the last line on screen, JS heap, element count; /runs with 100,000 runs — time to first
render. Prints figures with their floors; asserts nothing.

    uv run python -m bench.run ui_bench    (BENCH_UI_SECONDS=30 by default;
    BENCH_UI_PARTS=live,burst,runs to choose)
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import PASSWORD, ROOT, BenchServer
from bench.ui_pages import burst, runs_page

SECONDS = float(os.environ.get("BENCH_UI_SECONDS", "30"))
RATE = int(os.environ.get("BENCH_UI_RATE", "10000"))
CHROMIUM = os.environ.get("FASTFLOW_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


PARTS = os.environ.get("BENCH_UI_PARTS", "live,burst,runs").split(",")


def main() -> None:
    from playwright.sync_api import sync_playwright

    if "live" in PARTS:
        live()
    if {"burst", "runs"} & set(PARTS):
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            if "burst" in PARTS:
                burst(browser)
            if "runs" in PARTS:
                runs_page(browser)
            browser.close()


def live() -> None:
    from playwright.sync_api import sync_playwright

    chatty = (ROOT / "tests" / "fixtures" / "pipelines" / "chatty.py").read_text()
    server = BenchServer({"chatty": chatty}, FASTFLOW_UI="true")
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(60_000)
            page.goto(server.url + "/login")
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(server.url + "/")
            run_id = server.start_run("chatty", LINES_PER_SECOND=str(RATE), SECONDS=str(SECONDS))
            page.goto(f"{server.url}/runs/{run_id}")
            cdp = page.context.new_cdp_session(page)
            cdp.send("Performance.enable")
            clicks: list[float] = []
            toggles: list[float] = []
            frames: list[float] = []
            heap: list[tuple[float, float]] = []
            switch = page.get_by_test_id("autoscroll")
            start = time.monotonic()
            i = 0
            while time.monotonic() - start < SECONDS:
                i += 1
                # (a) A server round trip: search, until the answer is rendered.
                needle = f"line {i}7 of"
                page.get_by_test_id("log-search").fill(needle)
                t = time.perf_counter()
                page.get_by_test_id("log-search-go").click()
                page.get_by_text(f"matching lines for '{needle}'").wait_for()
                clicks.append(time.perf_counter() - t)
                # (b) The browser alone: a toggle flips its state (main thread not swamped).
                was = switch.get_attribute("aria-checked")
                t = time.perf_counter()
                switch.click()
                page.wait_for_function(
                    "([sel, was]) => document.querySelector(sel).getAttribute('aria-checked')"
                    " !== was",
                    arg=["[data-testid=autoscroll]", was],
                )
                toggles.append(time.perf_counter() - t)
                # (c) The browser's main thread alone: how long until it can run a frame.
                t = time.perf_counter()
                page.evaluate("() => new Promise(r => requestAnimationFrame(() => setTimeout(r)))")
                frames.append(time.perf_counter() - t)
                metrics = cdp.send("Performance.getMetrics")["metrics"]
                used = next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize")
                heap.append((time.monotonic() - start, used / 1e6))
                time.sleep(1.0)
            run = server.wait(run_id)
            blank = browser.new_page()
            idle = statistics.median(
                _timed(lambda: blank.evaluate(
                    "() => new Promise(r => requestAnimationFrame(() => setTimeout(r)))"
                ))
                for _ in range(10)
            )  # fmt: skip
            blank.close()
            lines = page.get_by_test_id("log").locator(".ff-line").count()
            gaps = page.get_by_test_id("log-gap").count()
            shot = Path(ROOT / "test-output" / "screenshots" / "bench-ui.png")
            shot.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(shot))
            browser.close()
    finally:
        server.close()
    clicks.sort()
    toggles.sort()
    p90 = clicks[max(0, int(len(clicks) * 0.9) - 1)]
    print(
        f"\nui_bench: run detail page, chatty pipeline at {RATE} lines/s for {SECONDS:g}s "
        f"(run {run['status']}, {run['duration_seconds']}s)"
    )
    print(
        f"  click -> server answer shown: n={len(clicks)} "
        f"median {statistics.median(clicks) * 1000:.0f} ms  p90 {p90 * 1000:.0f} ms  "
        f"max {clicks[-1] * 1000:.0f} ms"
    )
    print(
        f"  browser main thread, next frame: median {statistics.median(frames) * 1000:.0f} ms  "
        f"max {max(frames) * 1000:.0f} ms   floor, a blank page: {idle * 1000:.0f} ms"
    )
    print(
        f"  click -> switch flipped (a server round trip in NiceGUI): median "
        f"{statistics.median(toggles) * 1000:.0f} ms  max {toggles[-1] * 1000:.0f} ms"
    )
    print("  JS heap used (MB) over time: " + ", ".join(f"{t:.0f}s={h:.1f}" for t, h in heap[::3]))
    print(f"  JS heap min {min(h for _, h in heap):.1f} MB, max {max(h for _, h in heap):.1f} MB")
    print(f"  viewer lines at the end: {lines} (bounded by MAX_LINES), gap markers: {gaps}")


def _timed(fn: Callable[[], object]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
