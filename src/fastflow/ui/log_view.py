"""The log viewer element (`logview.js`) and the server side of its requests.

The browser asks for lines it does not have (a gap: skipped history, lines dropped during a
burst, a linked or searched line further back); `load_range` answers from the run's log file:
the lines nearest the visible ones (or around the wanted line), with what is still left as
smaller gaps, so no request ever ships more than `LOAD_LINES` lines.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nicegui import ui

from fastflow.events.log import read_events
from fastflow.events.types import ERROR, LOG
from fastflow.ui.log_lines import entries

LOAD_LINES = 1000
_LINE_TYPES = frozenset({LOG, ERROR})

CSS = """
.ff-logview { background: #0f172a; color: #e2e8f0; font-size: 12.5px; line-height: 1.45;
  overflow: auto; border-radius: 6px; padding: 6px 0; overscroll-behavior: contain;
  contain: content; }
.ff-logview .ff-chunk { content-visibility: auto; contain-intrinsic-size: auto 4500px; }
.ff-logview .ff-line { padding: 0 10px 0 0; white-space: pre-wrap; overflow-wrap: anywhere; }
.ff-logview.ff-nowrap .ff-line { white-space: pre; overflow-wrap: normal; width: max-content;
  min-width: 100%; }
.ff-logview .ff-ln { display: inline-block; min-width: 4.2em; padding: 0 10px 0 6px;
  text-align: right; color: #64748b; text-decoration: none; user-select: none; }
.ff-logview .ff-ln:hover { color: #cbd5e1; text-decoration: underline; }
.ff-logview.ff-hide-ln .ff-ln { font-size: 0; min-width: 0; padding: 0 4px; }
.ff-logview.ff-show-ts .ff-ln::after { content: attr(data-t); color: #94a3b8;
  font-size: 12.5px; margin-left: 10px; }
.ff-logview .ff-line:hover { background: rgba(148, 163, 184, 0.08); }
.ff-logview .ff-marked { background: rgba(250, 204, 21, 0.18) !important;
  box-shadow: inset 3px 0 0 #facc15; }
.ff-logview .ff-s-e { color: #fca5a5; }
.ff-logview .ff-s-y { color: #93c5fd; font-style: italic; }
.ff-logview .ff-s-p { color: #a5b4fc; }
.ff-logview .ff-v-critical { color: #fecaca; background: rgba(220, 38, 38, 0.25);
  font-weight: 600; }
.ff-logview .ff-v-error { color: #f87171; }
.ff-logview .ff-v-warning { color: #fbbf24; }
.ff-logview .ff-v-info { color: #e2e8f0; }
.ff-logview .ff-v-debug { color: #94a3b8; }
.ff-logview .ff-gap { color: #fbbf24; padding: 2px 10px; }
.ff-logview .ff-gap a { color: #93c5fd; }
.ff-logview .ff-gap-load { color: #0f172a; background: #fbbf24; border-radius: 4px;
  padding: 0 8px; cursor: pointer; }
.ff-logview .ff-gap-load:disabled { opacity: 0.5; cursor: progress; }
.ff-logview details.ff-group > summary { cursor: pointer; color: #e2e8f0; padding: 1px 10px;
  background: rgba(148, 163, 184, 0.10); font-weight: 600; list-style-position: inside; }
.ff-logview details.ff-group[data-err="1"] > summary { color: #f87171; }
.ff-logview .ff-group-time { float: right; font-weight: 400; color: #94a3b8; }
.ff-logview .ff-group-body { border-left: 2px solid #334155; margin-left: 10px; }
.ff-a-b { font-weight: 700; } .ff-a-d { opacity: 0.65; } .ff-a-i { font-style: italic; }
.ff-a-u { text-decoration: underline; } .ff-a-s { text-decoration: line-through; }
.ff-a-inv { filter: invert(1); }
.ff-a-fg0 { color: #334155; } .ff-a-fg1 { color: #ef4444; } .ff-a-fg2 { color: #22c55e; }
.ff-a-fg3 { color: #eab308; } .ff-a-fg4 { color: #3b82f6; } .ff-a-fg5 { color: #d946ef; }
.ff-a-fg6 { color: #06b6d4; } .ff-a-fg7 { color: #e2e8f0; } .ff-a-fg8 { color: #64748b; }
.ff-a-fg9 { color: #f87171; } .ff-a-fg10 { color: #4ade80; } .ff-a-fg11 { color: #facc15; }
.ff-a-fg12 { color: #60a5fa; } .ff-a-fg13 { color: #e879f9; } .ff-a-fg14 { color: #22d3ee; }
.ff-a-fg15 { color: #ffffff; }
.ff-a-bg0 { background: #1e293b; } .ff-a-bg1 { background: #b91c1c; }
.ff-a-bg2 { background: #15803d; } .ff-a-bg3 { background: #a16207; }
.ff-a-bg4 { background: #1d4ed8; } .ff-a-bg5 { background: #a21caf; }
.ff-a-bg6 { background: #0e7490; } .ff-a-bg7 { background: #cbd5e1; color: #0f172a; }
.ff-a-bg8 { background: #475569; } .ff-a-bg9 { background: #ef4444; }
.ff-a-bg10 { background: #22c55e; } .ff-a-bg11 { background: #eab308; }
.ff-a-bg12 { background: #3b82f6; } .ff-a-bg13 { background: #d946ef; }
.ff-a-bg14 { background: #06b6d4; } .ff-a-bg15 { background: #f8fafc; color: #0f172a; }
"""


class LogView(ui.element, component="logview.js"):
    """The viewer; `push` entries from `log_lines`, `fill` a gap, `reveal` a line."""

    def __init__(self, max_lines: int, log_url: str) -> None:
        super().__init__()
        self._props["max-lines"] = max_lines
        self._props["log-url"] = log_url

    def push(self, items: list[dict[str, Any]]) -> None:
        if items:
            self.run_method("push", items)

    def fill(
        self,
        gap_from: int,
        items: list[dict[str, Any]],
        before: list[Any] | None,
        after: list[Any] | None,
    ) -> None:
        self.run_method("fill", gap_from, items, before, after)

    def reveal(self, seq: int) -> None:
        self.run_method("reveal", seq)

    def set_options(self, **options: bool) -> None:
        self.run_method("setOptions", options)


def load_range(
    path: Path, first: int, last: int, around: int = 0, limit: int = LOAD_LINES
) -> tuple[list[dict[str, Any]], list[Any] | None, list[Any] | None]:
    """Lines of the gap [first, last] to show now, and the gaps left before and after them.

    Without `around`: the last `limit` lines of the gap (the ones next to what is shown).
    With it: up to `limit` lines centred on that seq."""
    if around:
        half = limit // 2
        head = list(read_events(path, max(first, around - half * 3), around - 1, _LINE_TYPES))
        room = limit - min(len(head), half)
        tail = list(read_events(path, around, last, _LINE_TYPES, limit=room))
        keep = max(0, limit - len(tail))
        events = head[max(0, len(head) - keep) :] + tail if keep else tail
    else:
        events = _last_lines(path, first, last, limit)
    if not events:
        return [], None, None
    lo, hi = int(events[0]["seq"]), int(events[-1]["seq"])
    before = [first, lo - 1, None] if lo > first else None
    after = [hi + 1, last, None] if hi < last else None
    return entries(events), before, after


def _last_lines(path: Path, first: int, last: int, limit: int) -> list[dict[str, Any]]:
    """The last `limit` line events with first <= seq <= last (reads back in growing windows:
    other events sit between the lines)."""
    window = limit * 2
    while True:
        start = max(first, last - window + 1)
        found = list(read_events(path, start, last, _LINE_TYPES))
        if len(found) >= limit or start == first:
            return found[-limit:]
        window *= 4
