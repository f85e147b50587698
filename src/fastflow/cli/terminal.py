"""What `fastflow run --follow` and `fastflow logs -f` print, and how.

- Lines keep the run's own order (its seq) even when stdout and stderr go to one pipe: a
  stream is flushed before the other is written to.
- On a terminal, stderr lines are red and setup/system lines dim, unless NO_COLOR is set;
  nothing is coloured for a pipe or a file.
- On a terminal, the run's progress is a bar on the last line of stderr, redrawn under the
  lines as they arrive and removed at the end.
"""

from __future__ import annotations

import os
import shutil
import time
from typing import TextIO

RESET = "\x1b[0m"
RED = "\x1b[31m"
GREEN = "\x1b[32m"
YELLOW = "\x1b[33m"
DIM = "\x1b[2m"
_CLEAR_LINE = "\r\x1b[2K"
_BAR_WIDTH = 30
_REDRAW_EVERY = 0.1  # s: a bar redrawn at most ten times a second


def is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def wants_colour(stream: TextIO, env: dict[str, str] | None = None) -> bool:
    """Colour only for a terminal, and never with NO_COLOR set (https://no-color.org)."""
    values = os.environ if env is None else env
    if values.get("NO_COLOR") or values.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def paint(text: str, style: str, on: bool) -> str:
    return f"{style}{text}{RESET}" if on and style else text


def progress_bar(percent: int, text: str, elapsed: float, width: int) -> str:
    """`━━━━━━━━━━───────  45%  Compiling  0:12`, cut to `width` columns."""
    percent = max(0, min(100, percent))
    done = _BAR_WIDTH * percent // 100
    bar = "━" * done + "─" * (_BAR_WIDTH - done)
    minutes, seconds = divmod(int(elapsed), 60)
    line = f"{bar} {percent:3d}%  {text}".rstrip() + f"  {minutes}:{seconds:02d}"
    return line[: max(10, width - 1)]


class Screen:
    """The viewer's terminal (or pipes): ordered lines, colours, one progress bar."""

    def __init__(self, out: TextIO, err: TextIO, env: dict[str, str] | None = None) -> None:
        self.out = out
        self.err = err
        self.err_colour = wants_colour(err, env)
        self._bar_on = is_terminal(err)
        self._last: TextIO | None = None
        self._open_line = False  # the last write ended inside a line (a partial fragment)
        self._percent: int | None = None
        self._label = ""
        self._bar_shown = False
        self._bar_drawn_at = 0.0
        self._started = time.monotonic()

    # The run's lines -------------------------------------------------------------------

    def line(self, stream: str | None, text: str, partial: bool = False) -> None:
        """One log line (or fragment) of the run, in seq order."""
        self._hide_bar()
        if stream == "stdout":
            target, body = self.out, text
        elif stream in ("setup", "system"):
            target = self.err
            body = paint(f"[{stream}] {text}", DIM, self.err_colour)
        else:
            target, body = self.err, paint(text, RED, self.err_colour)
        self._switch_to(target)
        target.write(body if partial else body + "\n")
        self._open_line = partial

    def note(self, text: str, style: str = "") -> None:
        """A message of fastflow's own, on stderr."""
        self._hide_bar()
        self._switch_to(self.err)
        if self._open_line:
            self.err.write("\n")
            self._open_line = False
        self.err.write(paint(text, style, self.err_colour) + "\n")
        self.err.flush()

    def end_of_batch(self) -> None:
        """Everything received so far is out; the bar (if any) back under it."""
        self.out.flush()
        self.err.flush()
        self._draw_bar(force=True)

    # Progress ---------------------------------------------------------------------------

    def progress(self, percent: int, text: str | None) -> None:
        self._percent, self._label = percent, text or ""
        self._draw_bar(force=False)

    def close(self) -> None:
        self._hide_bar()
        if self._open_line:
            self._switch_to(self.out)
            self.out.write("\n")
            self._open_line = False
        self.out.flush()
        self.err.flush()

    # ------------------------------------------------------------------------------------

    def _switch_to(self, target: TextIO) -> None:
        if self._last is not None and self._last is not target:
            self._last.flush()  # the other stream's lines are out before this one's
        self._last = target

    def _elapsed(self) -> float:
        return time.monotonic() - self._started

    def _width(self) -> int:
        return shutil.get_terminal_size((80, 24)).columns

    def _hide_bar(self) -> None:
        if self._bar_shown:
            self.err.write(_CLEAR_LINE)
            self.err.flush()
            self._bar_shown = False

    def _draw_bar(self, force: bool) -> None:
        if not self._bar_on or self._percent is None or self._open_line:
            return
        now = time.monotonic()
        if not force and now - self._bar_drawn_at < _REDRAW_EVERY:
            return
        self.out.flush()
        text = progress_bar(self._percent, self._label, self._elapsed(), self._width())
        self.err.write(_CLEAR_LINE + paint(text, YELLOW, self.err_colour))
        self.err.flush()
        self._bar_shown = True
        self._bar_drawn_at = now
