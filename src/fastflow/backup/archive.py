"""The archive: a tar (gzip when the name ends in .gz or .tgz) of plain files only.

Writing hashes every member as it streams in; reading checks every member's name and type,
never follows or creates a link, and never lets tarfile choose where a file goes.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import os
import re
import tarfile
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO

from fastflow.backup.errors import BackupError
from fastflow.backup.manifest import (
    DB_MEMBERS,
    KEYS_NAME,
    MANIFEST_NAME,
    MAX_MANIFEST_BYTES,
    MAX_SEALED_BYTES,
    Member,
)
from fastflow.errors import InvalidInputError
from fastflow.storage.objects import check_key

CHUNK = 1024 * 1024
_LOG_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$")
# Read whole into memory, so bounded: name -> largest size accepted.
_SMALL_MEMBERS = {MANIFEST_NAME: MAX_MANIFEST_BYTES, KEYS_NAME: MAX_SEALED_BYTES}

Advance = Callable[[int], None]


def _no_progress(_n: int) -> None:
    return None


def is_gzip_name(path: Path) -> bool:
    return path.name.endswith((".gz", ".tgz"))


def check_name(name: str) -> None:
    """A member name fastflow writes, or BackupError; nothing can name a path outside."""
    if name in _SMALL_MEMBERS or name in DB_MEMBERS.values():
        return
    if name.startswith("logs/") and _LOG_NAME.match(name[5:]):
        return
    if name.startswith("objects/"):
        try:
            check_key(name[len("objects/") :])
            return
        except InvalidInputError:
            pass
    raise BackupError(f"the archive holds {name!r}, which is no part of a fastflow backup")


class _Hashing:
    """Reads exactly `size` bytes of `f`, hashing them on the way into the tar."""

    def __init__(self, f: IO[bytes], size: int, advance: Advance) -> None:
        self._f, self._left, self._advance = f, size, advance
        self.digest = hashlib.sha256()

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        data = self._f.read(n)
        self._left -= len(data)
        self.digest.update(data)
        self._advance(len(data))
        return data


def _whole_lines(fd: int, size: int) -> int:
    """The length of the file's complete lines: a line still being written is left out."""
    end = size
    while end > 0:
        start = max(0, end - 64 * 1024)
        chunk = os.pread(fd, end - start, start)
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


class ArchiveWriter:
    """Streams members into `path` via `path.partial`; `commit()` renames it into place."""

    def __init__(self, path: Path, advance: Advance = _no_progress) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        self.members: dict[str, Member] = {}
        self._advance = advance
        self.partial.unlink(missing_ok=True)
        fd = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._raw = os.fdopen(fd, "wb")
        self._gzip = (
            gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=6, mtime=0)
            if is_gzip_name(path)
            else None
        )
        self._tar = tarfile.open(  # noqa: SIM115  (closed in commit() or abort())
            fileobj=self._gzip or self._raw, mode="w|", format=tarfile.PAX_FORMAT
        )

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            self.abort()

    def _info(self, name: str, size: int, mtime: float) -> tarfile.TarInfo:
        check_name(name)
        info = tarfile.TarInfo(name)
        info.size, info.mtime, info.mode = size, int(mtime), 0o600
        return info

    def add_file(self, name: str, path: Path, whole_lines: bool = False) -> Member | None:
        """Add the file as it is now (up to its last newline with `whole_lines`); None when
        it disappeared before it could be opened."""
        try:
            f = open(path, "rb")  # noqa: SIM115  (closed below)
        except FileNotFoundError:
            return None
        with f:
            st = os.fstat(f.fileno())
            size = _whole_lines(f.fileno(), st.st_size) if whole_lines else st.st_size
            reader = _Hashing(f, size, self._advance)
            self._tar.addfile(self._info(name, size, st.st_mtime), reader)
        member = Member(size, reader.digest.hexdigest())
        self.members[name] = member
        return member

    def add_bytes(self, name: str, data: bytes) -> Member:
        reader = _Hashing(io.BytesIO(data), len(data), self._advance)
        self._tar.addfile(self._info(name, len(data), time.time()), reader)
        member = Member(len(data), reader.digest.hexdigest())
        if name != MANIFEST_NAME:
            self.members[name] = member
        return member

    def commit(self) -> int:
        """Finish the archive, flush it to disk and put it in place; returns its size."""
        self._tar.close()
        if self._gzip is not None:
            self._gzip.close()
        self._raw.flush()
        os.fsync(self._raw.fileno())
        self._raw.close()
        os.replace(self.partial, self.path)
        return self.path.stat().st_size

    def abort(self) -> None:
        for closing in (
            self._tar.close,
            *((self._gzip.close,) if self._gzip else ()),
            self._raw.close,
        ):
            with contextlib.suppress(Exception):  # the half-written archive goes either way
                closing()
        self.partial.unlink(missing_ok=True)


@dataclass
class Scan:
    """What a full read of an archive found: each member's size and digest, and the two
    small members a restore needs before it writes anything."""

    members: dict[str, Member]
    manifest: bytes | None
    sealed_keys: bytes | None


_DAMAGED = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile, OSError, ValueError)


@contextmanager
def _reading(path: Path) -> Iterator[tarfile.TarFile]:
    """The archive as a stream of members; every way it can be unreadable is BackupError."""
    if not path.is_file():
        raise BackupError(f"{path}: no such file")
    try:
        tar = tarfile.open(path, mode="r|*")  # noqa: SIM115  (reads the first header)
    except _DAMAGED as exc:
        raise BackupError(f"{path} is not a fastflow backup (not a tar archive: {exc})") from None
    try:
        with tar:
            yield tar
    except _DAMAGED as exc:
        raise BackupError(f"{path} is truncated or damaged ({exc})") from None


def _members(tar: tarfile.TarFile, budget: int) -> Iterator[tuple[tarfile.TarInfo, IO[bytes]]]:
    seen: set[str] = set()
    total = 0
    for info in tar:
        if not info.isreg():
            kind = (
                "link"
                if info.issym() or info.islnk()
                else "folder"
                if info.isdir()
                else "special file"
            )
            raise BackupError(f"the archive holds {info.name!r}, a {kind}: refused")
        check_name(info.name)
        if info.name in seen:
            raise BackupError(f"the archive holds {info.name!r} twice")
        seen.add(info.name)
        total += info.size
        if total > budget:
            raise BackupError(
                f"the archive's {info.name!r} ({info.size} bytes) takes it past the free space "
                f"({budget} bytes) where it would be restored: refused"
            )
        f = tar.extractfile(info)
        assert f is not None  # a regular file
        yield info, f


def scan(path: Path, budget: int) -> Scan:
    """Read the whole archive once: names, types, sizes and SHA-256 of every member."""
    members: dict[str, Member] = {}
    small: dict[str, bytes] = {}
    with _reading(path) as tar:
        for info, f in _members(tar, budget):
            if info.name in _SMALL_MEMBERS:
                if info.size > _SMALL_MEMBERS[info.name]:
                    raise BackupError(f"the archive's {info.name!r} is too large to be fastflow's")
                data = f.read()
                small[info.name] = data
                digest = hashlib.sha256(data)
            else:
                digest = hashlib.sha256()
                while chunk := f.read(CHUNK):
                    digest.update(chunk)
            members[info.name] = Member(info.size, digest.hexdigest())
    manifest = small.get(MANIFEST_NAME)
    members.pop(MANIFEST_NAME, None)
    return Scan(members, manifest, small.get(KEYS_NAME))


def copy_member(
    f: IO[bytes], out: IO[bytes], name: str, expected: Member, advance: Advance
) -> None:
    """Copy one member while extracting, checking it is still what `scan` verified."""
    digest, size = hashlib.sha256(), 0
    try:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
            advance(len(chunk))
    except _DAMAGED as exc:
        raise BackupError(f"reading {name!r} from the archive failed ({exc})") from None
    if size != expected.size or digest.hexdigest() != expected.sha256:
        raise BackupError(f"{name!r} changed since the archive was checked: is it being written?")


def extract(path: Path, budget: int) -> Iterator[tuple[str, IO[bytes]]]:
    """The archive's members in order, each as (name, readable), checked as `scan` does."""
    with _reading(path) as tar:
        for info, f in _members(tar, budget):
            yield info.name, f
