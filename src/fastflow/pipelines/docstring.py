"""A pipeline's description: pipeline.json's `description`, else the module docstring of its
entrypoint (main.py or the single file) — read with `ast`, never imported or executed."""

from __future__ import annotations

import ast
import threading
from pathlib import Path

from fastflow.pipelines.discovery import PipelineDefinition

# A larger entrypoint is not parsed for its docstring: the console must stay quick.
MAX_SOURCE_BYTES = 512 * 1024
MAX_DESCRIPTION = 600

_cache: dict[Path, tuple[tuple[int, int], str | None]] = {}
_lock = threading.Lock()


def docstring_of(path: Path) -> str | None:
    """The module docstring's first paragraph, or None (none, unreadable, not Python)."""
    try:
        stat = path.stat()
    except OSError:
        return None
    key = (stat.st_mtime_ns, stat.st_size)
    with _lock:
        hit = _cache.get(path)
    if hit is not None and hit[0] == key:
        return hit[1]
    text: str | None = None
    if stat.st_size <= MAX_SOURCE_BYTES:
        try:
            tree = ast.parse(path.read_bytes(), filename=path.name)
            doc = ast.get_docstring(tree)
        except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
            doc = None
        if doc:
            first = doc.strip().split("\n\n", 1)[0]
            text = " ".join(first.split())[:MAX_DESCRIPTION] or None
    with _lock:
        _cache[path] = (key, text)
    return text


def description_of(definition: PipelineDefinition) -> str | None:
    """What to show under a pipeline's name."""
    if definition.config.description:
        return definition.config.description
    return docstring_of(definition.entrypoint)
