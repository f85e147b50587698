"""Checking and unpacking uploaded sources; nothing from an upload is trusted.

A zip is refused when a member would land outside the target (zip-slip: absolute paths,
`..`, backslashes, drive letters, symlinks), when its names are not UTF-8, when it is
encrypted, has too many members, declares more unpacked bytes than allowed, or compresses
absurdly well (a zip bomb). Unpacking counts real bytes too, since declared sizes can lie.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from fastflow.errors import InvalidInputError, TooLargeError

UploadKind = Literal["py", "zip"]

_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_DRIVE = re.compile(r"^[A-Za-z]:")
# Small members may compress extremely well (a file of spaces); only large ones count as bombs.
_RATIO_MIN_BYTES = 1024 * 1024
_COPY_CHUNK = 256 * 1024


@dataclass(frozen=True)
class UploadLimits:
    max_bytes: int
    max_unpacked_bytes: int
    max_ratio: float
    max_members: int = 10_000


@dataclass(frozen=True)
class Member:
    info: zipfile.ZipInfo
    path: PurePosixPath  # relative to the pipeline root


@dataclass(frozen=True)
class CheckedUpload:
    kind: UploadKind
    members: tuple[Member, ...] = ()


def mb(n: int) -> str:
    return f"{n / 1024 / 1024:g} MB"


def upload_kind(filename: str) -> UploadKind:
    lower = filename.lower()
    if lower.endswith(".py"):
        return "py"
    if lower.endswith(".zip"):
        return "zip"
    raise InvalidInputError(
        f"cannot build {filename!r}: upload a .py file or a .zip with main.py at its top"
    )


def check_upload(filename: str, path: Path, limits: UploadLimits) -> CheckedUpload:
    """Validate an uploaded file saved at `path`; raises a 4xx FastflowError when bad."""
    size = path.stat().st_size
    if size > limits.max_bytes:
        raise TooLargeError(f"upload is {mb(size)}, over the limit of {mb(limits.max_bytes)}")
    kind = upload_kind(filename)
    if kind == "py":
        _check_utf8_source(path.read_bytes(), filename)
        return CheckedUpload("py")
    if not zipfile.is_zipfile(path):
        raise InvalidInputError(f"{filename!r} is not a zip archive")
    try:
        with zipfile.ZipFile(path) as archive:
            return CheckedUpload("zip", _check_members(archive.infolist(), limits))
    except zipfile.BadZipFile as exc:
        raise InvalidInputError(f"{filename!r} is not a readable zip archive: {exc}") from None


def _check_utf8_source(data: bytes, name: str) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"{name}: not valid UTF-8 (byte {exc.start})") from None


def _member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & _UTF8_FLAG:
        return info.filename
    # Without the UTF-8 flag zipfile decoded the raw bytes as cp437; recover and insist on UTF-8
    # (plain ASCII names, the common case, are the same either way).
    raw = info.filename.encode("cp437")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"zip member name {raw!r} is not UTF-8; re-create the archive with UTF-8 names"
        ) from None


def _safe_path(name: str) -> PurePosixPath:
    parts = name.split("/")
    if name.endswith("/"):
        parts = parts[:-1]
    if (
        not name
        or name.startswith("/")
        or "\\" in name
        or "\0" in name
        or _DRIVE.match(name)
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise InvalidInputError(f"zip member {name!r} points outside the archive folder")
    return PurePosixPath(*parts)


def _check_members(infos: list[zipfile.ZipInfo], limits: UploadLimits) -> tuple[Member, ...]:
    if len(infos) > limits.max_members:
        raise InvalidInputError(f"zip has {len(infos)} members; at most {limits.max_members}")
    files: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    seen: set[PurePosixPath] = set()
    total = 0
    for info in infos:
        name = _member_name(info)
        path = _safe_path(name)
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise InvalidInputError(f"zip member {name!r} is a symbolic link; not allowed")
        if info.flag_bits & _ENCRYPTED_FLAG:
            raise InvalidInputError(f"zip member {name!r} is encrypted; not supported")
        if info.is_dir():
            continue
        if path in seen:
            raise InvalidInputError(f"zip holds {name!r} twice")
        seen.add(path)
        total += info.file_size
        if total > limits.max_unpacked_bytes:
            raise TooLargeError(
                f"zip unpacks to more than {mb(limits.max_unpacked_bytes)} (UPLOAD_MAX_UNPACKED_MB)"
            )
        if info.file_size >= _RATIO_MIN_BYTES and (
            info.compress_size == 0 or info.file_size / info.compress_size > limits.max_ratio
        ):
            ratio = info.file_size / max(info.compress_size, 1)
            raise InvalidInputError(
                f"zip member {name!r} has a compression ratio of {ratio:.0f}:1, over the limit "
                f"of {limits.max_ratio:g}:1 (a zip bomb?)"
            )
        files.append((info, path))
    # A file that is also a folder of another member ("a" and "a/b") cannot be unpacked.
    folders = {parent for _, p in files for parent in p.parents}
    for _, path in files:
        if path in folders:
            raise InvalidInputError(
                f"zip holds {str(path)!r} as a file and as a folder of other members"
            )
    root = _root(set(p for _, p in files))
    return tuple(
        Member(info, path.relative_to(root))
        for info, path in files
        if path.is_relative_to(root) and path != root
    )


def _root(paths: set[PurePosixPath]) -> PurePosixPath:
    """Where main.py is: the top, or one folder everything sits in (a zipped folder)."""
    if PurePosixPath("main.py") in paths:
        return PurePosixPath()
    tops = {p.parts[0] for p in paths if len(p.parts) > 1}
    if len(tops) == 1 and all(len(p.parts) > 1 for p in paths):
        top = PurePosixPath(tops.pop())
        if top / "main.py" in paths:
            return top
    raise InvalidInputError("zip has no main.py at its top (or in its single top folder)")


def unpack(source: Path, checked: CheckedUpload, target: Path, limits: UploadLimits) -> None:
    """Write the upload's files under `target` (which must not exist yet)."""
    target.mkdir(parents=True)
    if checked.kind == "py":
        shutil.copyfile(source, target / "main.py")
        return
    written = 0
    with zipfile.ZipFile(source) as archive:
        for member in checked.members:
            dest = target.joinpath(*member.path.parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(member.info) as src, open(dest, "xb") as out:
                while chunk := src.read(_COPY_CHUNK):
                    written += len(chunk)
                    if written > limits.max_unpacked_bytes:
                        raise TooLargeError(
                            f"zip unpacks to more than {mb(limits.max_unpacked_bytes)}"
                        )
                    out.write(chunk)
    for name in ("main.py", "requirements.txt"):
        if (target / name).is_file():
            _check_utf8_source((target / name).read_bytes(), name)
