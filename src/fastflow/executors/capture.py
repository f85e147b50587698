"""Turns a child's raw output bytes into log lines and progress updates.

Lines are split on b"\n"; a line longer than `max_line_bytes` is recorded as fragments
marked partial, so a 50 MB line without a newline is stored whole and never held in memory
at once. Bytes that are not UTF-8 are kept visible as backslash escapes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from fastflow.events.recorder import RunRecorder

_PROGRESS = re.compile(r"^::progress\s+(\d{1,3}(?:\.\d+)?)%?(?:\s+(.*))?$")


@dataclass
class ProgressUpdate:
    percent: int
    text: str | None


def parse_progress(line: str) -> ProgressUpdate | None:
    """`::progress 45` or `::progress 45 Compiling` → ProgressUpdate (clamped to 0-100)."""
    if not line.startswith("::progress"):
        return None
    m = _PROGRESS.match(line.rstrip("\r"))
    if not m:
        return None
    return ProgressUpdate(max(0, min(100, int(float(m.group(1))))), (m.group(2) or None))


class StreamCapture:
    """Line assembly for one stream (stdout or stderr) of one run."""

    def __init__(
        self, stream: str, recorder: RunRecorder, max_line_bytes: int, continuing: bool = False
    ) -> None:
        self.stream = stream
        self._recorder = recorder
        self._max = max_line_bytes
        self._pending = b""
        # The last thing recorded was a partial fragment (a resumed capture may start so).
        self._continuing = continuing
        self._extra: dict[str, Any] | None = None

    @staticmethod
    def decode(raw: bytes) -> str:
        """Bytes as text; invalid UTF-8 stays visible as backslash escapes."""
        return raw.decode("utf-8", errors="backslashreplace")

    def feed(self, data: bytes, extra: dict[str, Any] | None = None) -> None:
        """Process one chunk read from the pipe; `extra` goes into the events it completes."""
        self._extra = extra
        buf = self._pending + data if self._pending else data
        end = buf.rfind(b"\n")
        lines: list[tuple[str, bool]] = []
        if end >= 0:
            self._pending = buf[end + 1 :]
            # All complete lines are decoded at once: a newline byte is never part of a
            # multi-byte UTF-8 sequence, so splitting the text is splitting the bytes.
            text = self.decode(buf[:end])
            if "\r" in text:
                text = text.replace("\r\n", "\n")
                if text.endswith("\r"):
                    text = text[:-1]
            self._split(text, lines)
        else:
            self._pending = buf
        while len(self._pending) >= self._max:
            cut = _utf8_boundary(self._pending, self._max)
            lines.append((self.decode(self._pending[:cut]), True))
            self._pending = self._pending[cut:]
            self._continuing = True
        self._flush(lines)

    def _split(self, text: str, lines: list[tuple[str, bool]]) -> None:
        """Whole lines of `text` into `lines`; `::progress` lines become status events."""
        parts = text.split("\n")
        if self._continuing:
            # The first line ends a fragment recorded before: it is text, never a marker.
            lines.append((parts[0], False))
            parts = parts[1:]
            self._continuing = False
        if "::progress" not in text:
            if lines:
                lines.extend([(part, False) for part in parts])
            else:
                # The common case: whole lines only, recorded as they are.
                self._recorder.log_texts(self.stream, parts, self._extra)
            return
        for part in parts:
            progress = parse_progress(part)
            if progress is None:
                lines.append((part, False))
                continue
            self._flush(lines)
            self._recorder.status(
                "RUNNING",
                progress.percent,
                progress.text,
                extra={"stream": self.stream, **self._extra} if self._extra else None,
            )

    def _flush(self, lines: list[tuple[str, bool]]) -> None:
        if lines:
            self._recorder.log_lines(self.stream, lines, self._extra)
            lines.clear()

    def close(self) -> None:
        """End of stream: a last line without a newline is still a line."""
        if self._pending or self._continuing:
            self._recorder.log_lines(self.stream, [(self.decode(self._pending), False)])
        self._pending = b""
        self._continuing = False


def _utf8_boundary(data: bytes, limit: int) -> int:
    """A cut position <= limit that does not split a UTF-8 sequence (when avoidable)."""
    if limit >= len(data):
        return len(data)  # the whole buffer is exactly one fragment: nothing to split
    cut = limit
    for _ in range(3):
        # cut == len(data): nothing follows yet to split (a pipe read may end exactly there).
        if 0 < cut < len(data) and (data[cut] & 0xC0) == 0x80:
            cut -= 1
        else:
            break
    return cut if cut > 0 else limit
