"""Plain aligned tables and key/value blocks, the way `kubectl get` and `gh` print them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from fastflow.cli.terminal import DIM, GREEN, RED, YELLOW, paint

_STATUS_STYLE = {
    "SUCCESS": GREEN,
    "FAILED": RED,
    "TIMED_OUT": RED,
    "CANCELLED": YELLOW,
    "RUNNING": "\x1b[36m",
    "PENDING": DIM,
    "invalid": RED,
    "disabled": YELLOW,
}


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def status(text: str, colour: bool) -> str:
    return paint(text, _STATUS_STYLE.get(text.split(" ")[0], ""), colour)


def when(iso: str | None, now: datetime | None = None) -> str:
    """'12s ago', '5m ago', '3h ago', or the local date for older times; '-' for none."""
    if not iso:
        return "-"
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 60:
        return f"{max(0, int(seconds))}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    return moment.astimezone().strftime("%Y-%m-%d %H:%M")


def duration(seconds: Any) -> str:
    if not isinstance(seconds, int | float):
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{rest:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def _visible(text: str) -> int:
    """Width without colour sequences."""
    import re

    return len(re.sub(r"\x1b\[[0-9;]*m", "", text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], _visible(cell))
    lines = []
    for row in [list(headers), *rows]:
        cells = [
            cell + " " * (widths[i] - _visible(cell)) if i < len(row) - 1 else cell
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def fields(pairs: Sequence[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in pairs)
    return "\n".join(f"{k + ':':<{width + 1}} {v}" for k, v in pairs)


def cut(text: str | None, width: int) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"
