"""Secrets fastflow generates for itself on first start, kept under DATA_DIR with mode 0600."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


def load_or_create(path: Path, generate: Callable[[], str], what: str) -> str:
    """Read the key at `path`, or generate, store (0600) and announce it once."""
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = generate()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(value + "\n")
    log.warning("generated a new %s and stored it in %s (mode 0600)", what, path)
    return value
