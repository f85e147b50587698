"""Replaces secret values (and their base64 / URL-encoded forms) in output with `***`.

`Masker.mask` handles whole texts. `Masker.fragment` handles a long line that arrives as
several partial fragments: it keeps back the tail of each fragment that could be the start of
a secret, and puts it in front of the next fragment of the same stream, so a value cut in two
by a fragment boundary is still found. Joined again, the fragments give the masked line.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
# Masking a one- or two-character value would garble every log line that contains it by
# chance, and hides nothing an attacker could not guess; such values are not masked.
MIN_MASK_LENGTH = 3
_MIN_ENCODED_LENGTH = 6  # a shorter encoded core would match too much unrelated text


def _b64_cores(raw: bytes) -> set[str]:
    """Base64 forms of `raw` as they appear at any byte offset inside a longer encoding."""
    forms: set[str] = set()
    for encoder in (base64.b64encode, base64.urlsafe_b64encode):
        full = encoder(raw).decode("ascii")
        forms.add(full)
        forms.add(full.rstrip("="))
        for offset in (0, 1, 2):
            encoded = encoder(b"\0" * offset + raw).decode("ascii")
            # Characters that mix bits of the neighbouring bytes depend on them: drop them.
            start = (offset * 8 + 5) // 6
            end = ((offset + len(raw)) * 8) // 6
            core = encoded[start:end]
            if len(core) >= _MIN_ENCODED_LENGTH:
                forms.add(core)
    return forms


def variants(value: str) -> set[str]:
    """The forms of `value` that are masked: itself, base64 (any alignment), URL-encoded."""
    if len(value) < MIN_MASK_LENGTH:
        return set()
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    raw = value.encode("utf-8")
    if len(raw) >= 4:
        forms |= _b64_cores(raw)
    return {f for f in forms if len(f) >= MIN_MASK_LENGTH}


class Masker:
    """Masks a fixed set of secret values; `bool(masker)` is False when there is nothing to mask."""

    def __init__(self, values: Iterable[str]) -> None:
        forms: set[str] = set()
        for value in values:
            forms |= variants(value)
            # Multi-line secrets (keys, certificates) reach the log line by line.
            for part in value.splitlines():
                if part != value:
                    forms |= variants(part.strip()) if len(part.strip()) >= 8 else set()
        # Longest first, so a value that contains another is masked whole.
        ordered = sorted(forms, key=lambda f: (-len(f), f))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._longest = len(ordered[0]) if ordered else 0
        self._carry: dict[str, str] = {}

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        """`text` with every known form of every secret replaced by `***`."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def __call__(self, text: str) -> str:
        return self.mask(text)

    def fragment(self, stream: str, text: str, partial: bool) -> str:
        """Mask one piece of a line; `partial` pieces are continued by the next of `stream`."""
        if self._pattern is None:
            return text
        text = self._carry.pop(stream, "") + text
        if not partial:
            return self.mask(text)
        cut = max(0, len(text) - (self._longest - 1))
        for match in self._pattern.finditer(text):
            if match.start() < cut < match.end():
                cut = match.end()  # a whole match straddles the cut: emit it masked
                break
        self._carry[stream] = text[cut:]
        return self.mask(text[:cut])

    def mask_mapping(self, values: dict[str, str], secret_keys: Iterable[str]) -> dict[str, str]:
        """Env vars for display: secret keys shown as `***`, other values masked."""
        hidden = set(secret_keys)
        return {k: MASK if k in hidden else self.mask(v) for k, v in values.items()}
