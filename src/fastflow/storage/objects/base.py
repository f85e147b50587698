"""The object store contract: flat keys like `runs/<id>/artifacts/out.csv`, bytes in and out."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from fastflow.errors import InvalidInputError, NotFoundError

MAX_KEY_LENGTH = 1024


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int


def check_key(key: str) -> str:
    """A relative, normalised key or InvalidInputError; keys never climb out of their prefix."""
    parts = key.split("/")
    if (
        not key
        or len(key) > MAX_KEY_LENGTH
        or key.startswith("/")
        or "\\" in key
        or "\0" in key
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise InvalidInputError(f"invalid object path {key!r}")
    return key


class ObjectMissingError(NotFoundError):
    """The key does not exist in the store."""


class ObjectStore(Protocol):
    """Where sources, artifacts and archived logs live. Implementations: local, s3."""

    name: str

    def check(self) -> None:
        """Fail with ConfigError when the store cannot be used (called on start)."""
        ...

    def put_file(self, key: str, path: Path) -> None:
        """Store the file at `path` under `key` (replacing what was there)."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def get_file(self, key: str, path: Path) -> None:
        """Write the object to `path`; ObjectMissingError when absent."""
        ...

    def iter_bytes(self, key: str, chunk_size: int = 256 * 1024) -> Iterator[bytes]:
        """The object's content in chunks (for streaming downloads)."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str) -> list[ObjectInfo]:
        """Objects whose key starts with `prefix` (a folder-like prefix ending in '/')."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under `prefix`; returns how many were removed."""
        ...
