"""The console under bursts and big tables, in headless Chromium (called by ui_bench).

- `burst`: the run page open on a live run that prints 10,000 lines in one go — time from the
  print to the last line on screen, the JS heap, and the viewer's element count. Floor: the
  same 10,000 lines built into a blank page by plain JavaScript (the browser's own cost).
- `runs_page`: /runs with 100,000 runs in the database — time from navigation to the first
  row on screen. Floors: the same page over one run, and the page's SQL alone.
"""

from __future__ import annotations

import sqlite3
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.common import PASSWORD, BenchServer

BURST_PIPELINE = """
import os, sys, time
n = int(os.environ.get("LINES", "10000"))
time.sleep(float(os.environ.get("WAIT", "4")))
sys.stdout.write("".join(f"burst line {i} of {n}\\n" for i in range(1, n)))
sys.stdout.write(f"burst end {time.time():.6f}\\n")
sys.stdout.flush()
time.sleep(2)
"""

# Records when the last line is in the viewer and painted (the next animation frame).
_WATCH = """(el) => {
  window.ffSeen = null;
  const seen = () => {
    const last = el.lastElementChild;
    if (window.ffSeen === null && last && last.textContent.includes('burst end')) {
      window.ffSeen = 0;
      requestAnimationFrame(() => { window.ffSeen = Date.now(); });
    }
  };
  new MutationObserver(seen).observe(el, { childList: true, subtree: true });
}"""

# The floor: the same lines into a blank page by plain JavaScript, until painted.
_FLOOR = """(n) => new Promise((done) => {
  const lines = [];
  for (let i = 1; i < n; i++) lines.push(`burst line ${i} of ${n}`);
  const t0 = performance.now();
  const box = document.createElement('div');
  box.style.cssText = 'height: 400px; overflow: auto; font-family: monospace';
  document.body.appendChild(box);
  const frag = document.createDocumentFragment();
  for (const [i, text] of lines.entries()) {
    const div = document.createElement('div');
    const a = document.createElement('a');
    a.textContent = String(i + 1);
    div.append(a, text);
    frag.appendChild(div);
  }
  box.appendChild(frag);
  box.scrollTop = box.scrollHeight;
  requestAnimationFrame(() => done(performance.now() - t0));
})"""


def login(page: Any, url: str) -> None:
    page.goto(url + "/login")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(url + "/")


def burst(browser: Any, lines: int = 10_000, repeat: int = 3) -> None:
    server = BenchServer({"burst": BURST_PIPELINE}, FASTFLOW_UI="true")
    delays: list[float] = []
    heaps: list[float] = []
    counts: list[int] = []
    try:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)
        login(page, server.url)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        for _ in range(repeat):
            run_id = server.start_run("burst", LINES=str(lines), WAIT="4")
            page.goto(f"{server.url}/runs/{run_id}")
            log = page.get_by_test_id("log")
            log.wait_for()
            log.evaluate(_WATCH)
            page.wait_for_function("window.ffSeen > 0", polling=50)
            seen = page.evaluate("window.ffSeen") / 1000
            printed = float(log.locator(".ff-line").last.inner_text().rsplit(" ", 1)[1])
            delays.append(seen - printed)
            cdp.send("HeapProfiler.collectGarbage")
            metrics = cdp.send("Performance.getMetrics")["metrics"]
            heaps.append(next(m["value"] for m in metrics if m["name"] == "JSHeapUsedSize") / 1e6)
            counts.append(log.evaluate("el => el.querySelectorAll('*').length"))
            server.wait(run_id)
        blank = browser.new_page()
        floor = [blank.evaluate(_FLOOR, lines) / 1000 for _ in range(repeat)]
        blank.close()
    finally:
        server.close()
    print(f"\nui_bench: {lines:,}-line burst on an open run page (n={repeat})")
    print(
        f"  print -> last line on screen: median {statistics.median(delays) * 1000:.0f} ms "
        f"(max {max(delays) * 1000:.0f})   floor, plain JS into a blank page: "
        f"{statistics.median(floor) * 1000:.0f} ms"
    )
    print(f"  JS heap after the burst (after GC): {statistics.median(heaps):.1f} MB")
    print(f"  viewer elements after the burst: {statistics.median(counts):.0f}")


def _fill_runs(db_path: str, count: int) -> None:
    """`count` finished runs, one a minute back from now, straight into SQLite."""
    con = sqlite3.connect(db_path)
    cols = [r[1] for r in con.execute("PRAGMA table_info(runs)")]
    sample = dict(zip(cols, con.execute("SELECT * FROM runs LIMIT 1").fetchone(), strict=True))
    now = datetime.now(UTC).replace(tzinfo=None)
    stamp = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy keeps a DateTime in SQLite
    rows = []
    for i in range(count):
        created = now - timedelta(minutes=i + 1)
        row = dict(sample)
        row.update(
            id=f"{i:032x}",
            status="FAILED" if i % 10 == 9 else "CANCELLED" if i % 25 == 7 else "SUCCESS",
            created_at=created.strftime(stamp),
            started_at=created.strftime(stamp),
            finished_at=(created + timedelta(seconds=5 + i % 50)).strftime(stamp),
        )
        rows.append(tuple(row[c] for c in cols))
    marks = ",".join("?" * len(cols))
    con.executemany(f"INSERT INTO runs ({','.join(cols)}) VALUES ({marks})", rows)
    con.commit()
    con.close()


def _first_rows(page: Any, url: str, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        page.goto(url + "/")
        t = time.perf_counter()
        page.goto(url + "/runs")
        page.get_by_test_id("runs-table").locator("tbody tr").first.wait_for()
        out.append(time.perf_counter() - t)
    return out


def runs_page(browser: Any, count: int = 100_000, repeat: int = 5) -> None:
    server = BenchServer({"burst": BURST_PIPELINE}, FASTFLOW_UI="true")
    try:
        server.wait(server.start_run("burst", LINES="10", WAIT="0"))  # one real row to copy
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(120_000)
        login(page, server.url)
        one = _first_rows(page, server.url, repeat)  # floor: the same page over one run
        db = str(server.tmp / "data" / "fastflow.db")
        t = time.perf_counter()
        _fill_runs(db, count)
        filled = time.perf_counter() - t
        first = _first_rows(page, server.url, repeat)
        sql = []
        con = sqlite3.connect(db)
        for _ in range(repeat):
            t = time.perf_counter()
            con.execute("SELECT count(*) FROM runs").fetchone()
            con.execute("SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT 25").fetchall()
            con.execute("SELECT count(*) FROM runs").fetchone()
            con.execute("SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT 500").fetchall()
            sql.append(time.perf_counter() - t)
        con.close()
    finally:
        server.close()
    print(f"\nui_bench: /runs with {count:,} runs in SQLite (filled in {filled:.1f}s, n={repeat})")
    print(
        f"  navigation -> first row on screen: median {statistics.median(first) * 1000:.0f} ms "
        f"(max {max(first) * 1000:.0f})   floors: the same page over 1 run "
        f"{statistics.median(one) * 1000:.0f} ms; its SQL alone on {count:,} runs "
        f"{statistics.median(sql) * 1000:.1f} ms"
    )
