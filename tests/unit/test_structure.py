"""The code's shape: modules stay small enough to read in one sitting."""

from __future__ import annotations

from pathlib import Path

import fastflow

MAX_LINES = 400
SOURCE = Path(fastflow.__file__).parent


def test_no_module_is_longer_than_the_limit() -> None:
    too_long = {
        str(path.relative_to(SOURCE)): n
        for path in SOURCE.rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not too_long, f"split these modules (over {MAX_LINES} lines): {too_long}"


def test_the_limit_is_checked_against_real_modules() -> None:
    # The walk finds the package's modules (an empty walk would pass the test above).
    assert len(list(SOURCE.rglob("*.py"))) > 100
