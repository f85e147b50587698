"""Terminal output made into styled text for the console: ANSI SGR colours become segments,
every other escape sequence and control character is dropped, and a line's log level is read.

`segments(line)` answers `[text, style]` pairs the browser turns into spans with
`textContent` (never HTML), so a run's output can colour the viewer but not write into it.
`style` is a space-separated list of tokens: `fg1`…`fg15`, `bg0`…`bg15` (the 16 terminal
colours, themed by CSS), `b` (bold), `d` (dim), `i` (italic), `u` (underline), `s` (strike),
`inv` (inverse), and `#rrggbb` / `bg#rrggbb` for 256-colour and true-colour codes.

Pure functions, tested without a browser.
"""

from __future__ import annotations

import re

# CSI sequences (ESC [ params final), OSC (ESC ] … BEL/ST), other two-byte escapes, and single
# control characters (C0 except tab, DEL, C1).
_ESCAPE = re.compile(
    r"\x1b\[([0-9;:?<=>]*)[ -/]*([@-~])"  # CSI: group 1 params, group 2 final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC (title, clipboard, hyperlinks)
    r"|\x1b[PX^_][^\x1b]*(?:\x1b\\)?"  # DCS, SOS, PM, APC strings
    r"|\x1b[ -/]*[0-~]?"  # any other escape
    r"|[\x00-\x08\x0a-\x1f\x7f-\x9f]"
)

_LEVEL = re.compile(
    r"\b(CRITICAL|FATAL|ERROR|ERR|WARNING|WARN|INFO|DEBUG|TRACE|Traceback)\b"
    r"|\blevel=\"?(critical|fatal|error|warning|warn|info|debug|trace)\b",
)
_LEVELS = {
    "critical": "critical",
    "fatal": "critical",
    "error": "error",
    "err": "error",
    "traceback": "error",
    "warning": "warning",
    "warn": "warning",
    "info": "info",
    "debug": "debug",
    "trace": "debug",
}
LEVEL_WINDOW = 120  # a level is looked for near the start of a line, where loggers put it


def _xterm(n: int) -> str:
    """One of the 256 xterm colours (16…255) as #rrggbb."""
    if n < 232:
        n -= 16
        steps = (0, 95, 135, 175, 215, 255)
        r, g, b = steps[n // 36], steps[(n // 6) % 6], steps[n % 6]
    else:
        r = g = b = 8 + (n - 232) * 10
    return f"#{r:02x}{g:02x}{b:02x}"


class _Style:
    __slots__ = ("attrs", "bg", "fg")

    def __init__(self) -> None:
        self.fg: str | None = None
        self.bg: str | None = None
        self.attrs: set[str] = set()

    def css(self) -> str:
        out = sorted(self.attrs)
        if self.fg:
            out.append(self.fg)
        if self.bg:
            out.append(self.bg)
        return " ".join(out)

    def apply(self, params: str) -> None:
        codes = [int(p) if p.isdigit() else 0 for p in re.split("[;:]", params)] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            i += 1
            if c == 0:
                self.fg, self.bg, self.attrs = None, None, set()
            elif c in _ATTR_ON:
                self.attrs.add(_ATTR_ON[c])
            elif c in _ATTR_OFF:
                self.attrs.difference_update(_ATTR_OFF[c])
            elif 30 <= c <= 37 or 90 <= c <= 97:
                self.fg = f"fg{c - 30 if c < 90 else c - 82}"
            elif 40 <= c <= 47 or 100 <= c <= 107:
                self.bg = f"bg{c - 40 if c < 100 else c - 92}"
            elif c == 39:
                self.fg = None
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i < len(codes):
                colour, i = _extended(codes, i)
                if colour is not None:
                    if c == 38:
                        self.fg = colour
                    else:
                        self.bg = "bg" + colour if colour.startswith("#") else "bg" + colour[2:]


_ATTR_ON = {1: "b", 2: "d", 3: "i", 4: "u", 7: "inv", 9: "s"}
_ATTR_OFF = {22: ("b", "d"), 23: ("i",), 24: ("u",), 27: ("inv",), 29: ("s",)}


def _extended(codes: list[int], i: int) -> tuple[str | None, int]:
    """`5;n` (256 colours) or `2;r;g;b` (true colour) after a 38/48; returns (colour, next i)."""
    mode = codes[i]
    if mode == 5 and i + 1 < len(codes):
        n = max(0, min(255, codes[i + 1]))
        return (f"fg{n}" if n < 16 else _xterm(n)), i + 2
    if mode == 2 and i + 3 < len(codes):
        r, g, b = (max(0, min(255, v)) for v in codes[i + 1 : i + 4])
        return f"#{r:02x}{g:02x}{b:02x}", i + 4
    return None, i + 1


def segments(line: str) -> list[list[str]]:
    """`line` as [text, style] pairs: SGR colours applied, every other escape removed."""
    if "\x1b" not in line and not _has_control(line):
        return [[line, ""]]
    style = _Style()
    out: list[list[str]] = []
    pos = 0
    for m in _ESCAPE.finditer(line):
        if m.start() > pos:
            _add(out, line[pos : m.start()], style.css())
        pos = m.end()
        if m.group(2) == "m":
            style.apply(m.group(1) or "")
    if pos < len(line):
        _add(out, line[pos:], style.css())
    return out or [["", ""]]


def _add(out: list[list[str]], text: str, css: str) -> None:
    if out and out[-1][1] == css:
        out[-1][0] += text
    else:
        out.append([text, css])


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def _has_control(line: str) -> bool:
    return _CONTROL.search(line) is not None


def plain(line: str) -> str:
    """`line` without any escape sequence or control character (tabs stay)."""
    return _ESCAPE.sub("", line)


def level(text: str) -> str | None:
    """The log level a (plain) line carries near its start: 'critical', 'error', 'warning',
    'info', 'debug', or None."""
    m = _LEVEL.search(text, 0, LEVEL_WINDOW)
    if m is None:
        return None
    return _LEVELS[(m.group(1) or m.group(2)).lower()]
