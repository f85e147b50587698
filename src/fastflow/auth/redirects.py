"""Where a person may be sent after signing in: a path on this server, never another site."""

from __future__ import annotations

from urllib.parse import urlsplit

MAX_LENGTH = 2000


def safe_next(target: str | None) -> str:
    """Only a local path may follow login (no open redirect to another site); else "/"."""
    if not target or len(target) > MAX_LENGTH:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target:
        return "/"  # browsers read "/\evil.example" as "//evil.example"
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"  # browsers drop tabs and newlines: "/\t/evil.example" is "//evil.example"
    return target
