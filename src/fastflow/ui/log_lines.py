"""Log events as the console's log viewer receives them: compact entries for `logview.js`.

A line entry: `{"n": seq, "t": epoch ms, "s": stream, "v": level, "g": [[text, style], …]}`.
`::group::NAME` and `::endgroup::` lines (the convention CI logs use) become section markers
`{"n", "t", "open": NAME}` / `{"n", "t", "close": 1}` and are not shown as lines, so the viewer
folds the lines between them and shows how long the section took. A range of lines not sent
(skipped history, or dropped during a burst) is `{"gap": [first_seq, last_seq], "k": count}`.

The line number a reader sees and links to (`#L123`) is the event's sequence number: the same
number the full-log download's ranges and the search use, stable while the run prints.
"""

from __future__ import annotations

from typing import Any

from fastflow.events.types import ERROR, LOG, Event
from fastflow.ui.ansi import level, plain, segments

GROUP_OPEN = "::group::"
GROUP_CLOSE = "::endgroup::"
_STREAMS = {"stdout": "o", "stderr": "e", "system": "y", "setup": "p"}
MAX_GROUP_NAME = 200


def entry(event: Event) -> dict[str, Any] | None:
    """The viewer's entry for one log (or error) event; None for other events."""
    kind = event.get("type")
    if kind == ERROR:
        event = {**event, "stream": "system", "line": f"error: {event.get('error', '')}"}
    elif kind != LOG:
        return None
    line = str(event.get("line", ""))
    seq = int(event["seq"])
    ts = round(float(event.get("ts") or 0) * 1000)
    if line.startswith("::"):
        marker = _marker(line, seq, ts)
        if marker is not None:
            return marker
    text = plain(line) if "\x1b" in line else line
    out: dict[str, Any] = {
        "n": seq,
        "t": ts,
        "s": _STREAMS.get(str(event.get("stream")), "o"),
        "g": segments(line),
    }
    lvl = level(text)
    if lvl is not None:
        out["v"] = lvl
    if event.get("partial"):
        out["p"] = 1
    return out


def _marker(line: str, seq: int, ts: int) -> dict[str, Any] | None:
    stripped = line.rstrip()
    if stripped.startswith(GROUP_OPEN):
        name = plain(stripped[len(GROUP_OPEN) :]).strip()[:MAX_GROUP_NAME] or "section"
        return {"n": seq, "t": ts, "open": name}
    if stripped == GROUP_CLOSE:
        return {"n": seq, "t": ts, "close": 1}
    return None


def entries(events: list[Event]) -> list[dict[str, Any]]:
    out = []
    for event in events:
        e = entry(event)
        if e is not None:
            out.append(e)
    return out


def gap(first_seq: int, last_seq: int, count: int | None) -> dict[str, Any]:
    return {"gap": [first_seq, last_seq], "k": count}
