"""API token format: `ff_` + 256 random bits; only the SHA-256 of a token is ever stored."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "ff_"
_DISPLAY = 10  # characters kept to tell tokens apart in listings (prefix + 7)


def generate() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def digest(token: str) -> str:
    # A plain hash suffices: the token has 256 bits of entropy, nothing to brute-force.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def display_prefix(token: str) -> str:
    return token[:_DISPLAY]


def looks_like_api_token(raw: str) -> bool:
    return raw.startswith(PREFIX)
