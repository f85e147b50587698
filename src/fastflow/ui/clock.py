"""Times that move on their own in the browser: a live run's duration, "seconds since output",
"2 min ago". The server renders the element once with an epoch in a data attribute; a small
script ticks every element on the page each second, without a server round trip.

- `data-ff-since="<epoch s>"`: the duration since then ("4.2s", "3m 05s", "1h 02m").
- `data-ff-ago="<epoch s>"`: a relative time ("just now", "2 min ago", "3 h ago").
"""

from __future__ import annotations

from datetime import UTC, datetime

from nicegui import ui

_SCRIPT = """
<script>
(() => {
  if (window.ffClock) return;
  const span = (s) => {
    if (s < 60) return s.toFixed(1) + "s";
    const m = Math.floor(s / 60), sec = Math.floor(s % 60);
    if (m < 60) return m + "m " + String(sec).padStart(2, "0") + "s";
    return Math.floor(m / 60) + "h " + String(m % 60).padStart(2, "0") + "m";
  };
  const ago = (s) => {
    if (s < 45) return "just now";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    if (s < 86400) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " d ago";
  };
  window.ffClock = () => {
    const now = Date.now() / 1000;
    for (const el of document.querySelectorAll("[data-ff-since]")) {
      const t = parseFloat(el.dataset.ffSince);
      if (t) el.textContent = (el.dataset.ffPrefix || "") + span(Math.max(0, now - t));
    }
    for (const el of document.querySelectorAll("[data-ff-ago]")) {
      const t = parseFloat(el.dataset.ffAgo);
      if (t) el.textContent = ago(Math.max(0, now - t));
    }
  };
  setInterval(window.ffClock, 1000);
})();
</script>
"""


def install() -> None:
    """Add the ticking script to the current page (once per page)."""
    ui.add_head_html(_SCRIPT)


def epoch(value: datetime | None) -> float:
    if value is None:
        return 0.0
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """The same words the script shows, for the first render (and for tests)."""
    if value is None:
        return "—"
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    s = max(0.0, ((now or datetime.now(UTC)) - value).total_seconds())
    if s < 45:
        return "just now"
    if s < 3600:
        return f"{round(s / 60)} min ago"
    if s < 86400:
        return f"{round(s / 3600)} h ago"
    return f"{round(s / 86400)} d ago"
