"""Usernames people cannot confuse: NFKC-normalised, no invisible characters, unique
without regard to case (`admin`, `Admin`, `admin ` and `admin\u200b` are one name)."""

from __future__ import annotations

import unicodedata

from fastflow.errors import InvalidInputError

MAX_LENGTH = 150
# Control, format (zero-width, bidi), unassigned, private-use, surrogate, line/paragraph
# separators: characters a reader cannot see or that change how text around them reads.
_INVISIBLE = frozenset({"Cc", "Cf", "Cn", "Co", "Cs", "Zl", "Zp"})


def normalize(raw: str) -> str:
    """The username as stored: NFKC. Refuses what a person could not tell apart."""
    name = unicodedata.normalize("NFKC", raw)
    if not name or len(name) > MAX_LENGTH:
        raise InvalidInputError(f"username must be 1-{MAX_LENGTH} characters")
    if name != name.strip():
        raise InvalidInputError("username must not begin or end with spaces")
    for ch in name:
        if unicodedata.category(ch) in _INVISIBLE or (ch.isspace() and ch != " "):
            raise InvalidInputError(
                f"username must not contain invisible or control characters (U+{ord(ch):04X})"
            )
    if "/" in name:
        raise InvalidInputError("username must not contain '/'")
    return name


def same(a: str, b: str) -> bool:
    """Whether two stored usernames name the same person (case does not count)."""
    return (
        unicodedata.normalize("NFKC", a).casefold() == unicodedata.normalize("NFKC", b).casefold()
    )
