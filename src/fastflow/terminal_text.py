"""Run output made safe for a person's terminal: colours stay, every other control goes.

A run controls what it prints. Printed raw, an escape sequence could clear the viewer's
screen, move the cursor over earlier lines, set the window title, or (OSC 52) write to the
clipboard. `safe` keeps SGR colour sequences (`ESC [ … m`), tabs and newlines, and shows
every other control character as a visible escape (`\\x1b`, `\\r`, `\\x9b`).
"""

from __future__ import annotations

import re

# An SGR sequence (colours, bold), or one control character (C0 except tab and newline,
# DEL, C1).
_TOKEN = re.compile(r"(\x1b\[[0-9;:]*m)|([\x00-\x08\x0b-\x1f\x7f-\x9f])")
_NAMED = {"\r": "\\r", "\x1b": "\\x1b"}


def _escape(match: re.Match[str]) -> str:
    if match.group(1):
        return match.group(1)  # a colour: kept
    ch = match.group(2)
    return _NAMED.get(ch, f"\\x{ord(ch):02x}")


def safe(text: str) -> str:
    """`text` with colours kept and every other control character shown escaped."""
    return _TOKEN.sub(_escape, text)
