"""The log card of the run page: the viewer, its toggles, and search over the whole log.

Lines reach the browser in batches of at most `LINES_PER_TICK`, one batch at a time: the next
goes as soon as the browser says it has built the last (it builds in slices between frames, so
the page stays responsive). A run printing faster than the browser can show leaves gaps the
reader can fill in place. Search results carry
their line numbers and open in place: the viewer scrolls to the line, fetching it if needed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments

from fastflow.events.log import last_seq, read_events
from fastflow.events.types import LOG, STATUS
from fastflow.ui.ansi import plain
from fastflow.ui.downloads import log_url
from fastflow.ui.layout import tid
from fastflow.ui.log_follow import Gap
from fastflow.ui.log_lines import entry, gap
from fastflow.ui.log_view import CSS, LogView, load_range

MAX_LINES = 5000  # lines kept in the browser; earlier ones are a "load earlier lines" away
HISTORY_LINES = 1000  # a page opened on a long log starts with its recent past
TICK_SECONDS = 0.1
LINES_PER_TICK = 2000  # per batch; the next goes when the browser has built this one
ACK_TIMEOUT = 5.0
SEARCH_LIMIT = 500


def search_log(path: Path, needle: str) -> tuple[list[tuple[int, str]], bool]:
    """(seq, plain text) of the lines containing `needle` (case-insensitive), capped."""
    needle = needle.lower()
    hits: list[tuple[int, str]] = []
    for event in read_events(path, types=frozenset({LOG})):
        line = event["line"]
        text = plain(line) if "\x1b" in line else line
        if needle in text.lower():
            hits.append((int(event["seq"]), text))
            if len(hits) >= SEARCH_LIMIT:
                return hits, True
    return hits, False


def last_progress(path: Path, window: int = 5000) -> dict[str, Any] | None:
    """The last status event carrying progress among the log's last `window` events."""
    last = last_seq(path) if path.exists() else 0
    found = None
    for event in read_events(path, max(1, last - window + 1), last, frozenset({STATUS})):
        if event.get("progress") is not None:
            found = event
    return found


class LogPanel:
    """The log card; `push` what the follower drained on each tick."""

    view: LogView

    def __init__(self, run_id: str, log_path: Path) -> None:
        self.run_id = run_id
        self.log_path = log_path
        self.last_output: float | None = None  # epoch seconds of the newest line shown
        # Flow control: one batch in the browser at a time. It says "drained" when it has
        # built it; until then lines wait here (and a run outpacing the browser leaves gaps).
        self.sent_at: float | None = None
        self.on_drained: Callable[[], Awaitable[None]] | None = None

    def build(self) -> None:
        ui.add_css(CSS)
        with ui.card().classes("ff-card w-full").props(tid("log-card")):
            with ui.row().classes("items-center w-full gap-x-3 gap-y-0"):
                ui.label("Log").classes("text-lg font-bold")
                self.follow = ui.switch("Auto-scroll", value=True).props(tid("autoscroll"))
                self.follow.on_value_change(lambda e: self.view.set_options(follow=e.value))
                ts = ui.switch("Timestamps", value=False).props(tid("toggle-timestamps"))
                ts.on_value_change(lambda e: self.view.set_options(showTs=e.value))
                ln = ui.switch("Line numbers", value=True).props(tid("toggle-line-numbers"))
                ln.on_value_change(lambda e: self.view.set_options(showLn=e.value))
                wrap = ui.switch("Wrap", value=True).props(tid("toggle-wrap"))
                wrap.on_value_change(lambda e: self.view.set_options(wrap=e.value))
                ui.space()
                with ui.row().classes("items-center gap-1 no-wrap max-sm:w-full"):
                    self.search_input = (
                        ui.input(placeholder="Search the whole log")
                        .props("dense outlined clearable")
                        .classes("w-64 max-sm:flex-1")
                        .props(tid("log-search"))
                    )
                    self.search_input.on("keydown.enter", self.search)
                    ui.button(icon="search", on_click=self.search).props("flat dense").props(
                        tid("log-search-go")
                    )
            self.view = LogView(MAX_LINES, log_url(self.run_id).split("?")[0])
            self.view.classes("w-full min-h-[8rem] max-h-[32rem] max-sm:max-h-[65vh]")
            self.view.props(tid("log"))
            self.view.on("load", self._load)
            self.view.on("drained", self._drained)
            ui.label(
                f"Keeps the last {MAX_LINES:,} lines on screen; earlier ones load on request. "
                "Line numbers link to their line; the full log is in the download."
            ).classes("text-xs text-grey-7")
            self.results = ui.column().classes("w-full gap-0").props(tid("search-results"))

    @property
    def waiting(self) -> bool:
        """A batch is still being built in the browser (a lost answer counts after a while)."""
        return self.sent_at is not None and time.monotonic() - self.sent_at < ACK_TIMEOUT

    async def _drained(self) -> None:
        self.sent_at = None
        if self.on_drained is not None:
            await self.on_drained()

    def push(self, items: list[dict[str, Any] | Gap]) -> None:
        out = []
        for item in items:
            if isinstance(item, Gap):
                out.append(gap(item.first_seq, item.last_seq, item.lines))
                continue
            e = entry(item)
            if e is not None:
                out.append(e)
            self.last_output = float(item.get("ts") or 0) or self.last_output
        if out:
            self.sent_at = time.monotonic()
            self.view.push(out)

    async def _load(self, e: GenericEventArguments) -> None:
        first, last = int(e.args.get("from", 0)), int(e.args.get("to", 0))
        around = int(e.args.get("around") or 0)
        if first < 1 or last < first:
            return
        lines, before, after = await asyncio.to_thread(
            load_range, self.log_path, first, last, around
        )
        self.view.fill(first, lines, before, after)

    async def search(self) -> None:
        needle = (self.search_input.value or "").strip()
        self.results.clear()
        if not needle:
            return
        hits, capped = await asyncio.to_thread(search_log, self.log_path, needle)
        with self.results:
            more = " (first matches only)" if capped else ""
            ui.label(f"{len(hits)} matching lines for '{needle}'{more}").classes(
                "text-sm font-medium"
            )
            with ui.column().classes("w-full gap-0 max-h-64 overflow-auto"):
                for seq, text in hits:
                    with ui.row().classes("gap-2 text-xs ff-mono w-full no-wrap items-start"):
                        ui.link(f"L{seq}", f"#L{seq}").classes("shrink-0").props(tid("search-hit"))
                        ui.label(text).classes("break-all")
