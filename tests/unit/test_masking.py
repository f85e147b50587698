"""The masker: whole values, encodings at any alignment, values split across fragments."""

from __future__ import annotations

import base64
from urllib.parse import quote_plus

from fastflow.secrets.masking import MASK, Masker

SECRET = "hunter2-Secret/Value+x"


def test_masks_value_and_encodings() -> None:
    m = Masker([SECRET])
    assert m.mask(f"a {SECRET} b") == "a *** b"
    assert m.mask(base64.b64encode(SECRET.encode()).decode()) == MASK
    assert m.mask(base64.urlsafe_b64encode(SECRET.encode()).decode()) == MASK
    assert m.mask(quote_plus(SECRET)) == MASK
    for prefix in (b"", b"a", b"ab", b"abc"):  # every alignment inside a longer encoding
        encoded = base64.b64encode(prefix + SECRET.encode() + b"tail").decode()
        assert MASK in m.mask(encoded), prefix
        core = base64.b64encode(SECRET.encode()).decode()[2:-4]
        assert core not in m.mask(encoded)


def test_short_and_empty_values_are_not_masked() -> None:
    m = Masker(["ab", ""])
    assert not m
    assert m.mask("ab cd") == "ab cd"


def test_longest_value_wins() -> None:
    m = Masker(["secret", "secret-extended"])
    assert m.mask("x secret-extended y") == "x *** y"


def test_fragments_mask_a_value_cut_by_a_boundary() -> None:
    m = Masker([SECRET])
    line = "x" * 100 + SECRET + "y" * 100
    for cut in range(90, 100 + len(SECRET) + 10):
        pieces = [m.fragment("stdout", line[:cut], True), m.fragment("stdout", line[cut:], False)]
        assert "".join(pieces) == "x" * 100 + MASK + "y" * 100, cut


def test_fragments_of_streams_are_kept_apart() -> None:
    m = Masker([SECRET])
    a = m.fragment("stdout", "out " + SECRET[:5], True)
    b = m.fragment("stderr", "err line", False)
    c = m.fragment("stdout", SECRET[5:] + " end", False)
    assert b == "err line"
    assert a + c == "out *** end"


def test_multiline_secret_masked_line_by_line() -> None:
    key = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"
    m = Masker([key])
    assert m.mask("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC") == MASK
