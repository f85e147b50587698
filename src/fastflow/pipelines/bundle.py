"""Content-addressed pipeline bundles: how a worker without the server's disk gets the code.

A bundle is a deterministic tar.gz of a pipeline folder (or a single-file pipeline and its
json), named by the SHA-256 of its bytes. The server builds it when it dispatches a run; a
worker downloads it once per hash and keeps it extracted, so the same code is never fetched
twice and a changed pipeline is a new hash (no stale cache).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path, PurePosixPath

from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.sandbox.access import share_tree

SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SKIP_DIRS = {"__pycache__", ".venv", ".git", ".mypy_cache", ".pytest_cache"}


def _members(p: PipelineDefinition) -> list[tuple[str, Path]]:
    if p.kind == "file":
        files = [(p.path.name, p.path)]
        meta = p.path.with_suffix(".json")
        if meta.is_file():
            files.append((meta.name, meta))
        return files
    found = []
    for root, dirs, names in os.walk(p.path):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(names):
            full = Path(root) / name
            if full.is_file() and not full.is_symlink():
                found.append((f"{p.name}/{full.relative_to(p.path).as_posix()}", full))
    return found


def bundle_bytes(p: PipelineDefinition) -> bytes:
    """The bundle of `p`: same files, same bytes (no times, owners or modes but exec)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, path in _members(p):
            data = path.read_bytes()
            info = tarfile.TarInfo(arcname)
            info.size = len(data)
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def build_bundle(p: PipelineDefinition, bundles_dir: Path) -> str:
    """Store the bundle of `p` under `bundles_dir` (once per content); returns its sha256."""
    data = bundle_bytes(p)
    sha = hashlib.sha256(data).hexdigest()
    target = bundles_dir / f"{sha}.tar.gz"
    if not target.exists():
        bundles_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=bundles_dir, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, target)  # atomic: a reader never sees half a bundle
    return sha


def bundle_path(bundles_dir: Path, sha: str) -> Path | None:
    """The stored bundle with this hash, or None (a malformed hash is never a path)."""
    if not SHA256.match(sha):
        return None
    path = bundles_dir / f"{sha}.tar.gz"
    return path if path.is_file() else None


def _extract(tar: tarfile.TarFile, target: Path) -> None:
    """Extract, refusing absolute paths, `..` and anything but plain files and folders."""
    if hasattr(tarfile, "data_filter"):
        tar.extractall(target, filter="data")
        return
    # Pythons before 3.11.4 (Debian bookworm's 3.11.2) have no extraction filters; a
    # bundle holds plain files only, so check that much by hand.
    for member in tar.getmembers():
        parts = PurePosixPath(member.name).parts
        if not (member.isfile() or member.isdir()) or member.name.startswith("/") or ".." in parts:
            raise ValueError(f"bundle member {member.name[:200]!r} is not a plain relative file")
    tar.extractall(target)  # noqa: S202  (every member checked above)


def extract_bundle(data: bytes, sha: str, cache_dir: Path) -> Path:
    """Check `data` against `sha` and extract it to `cache_dir/sha` (atomically, once)."""
    if hashlib.sha256(data).hexdigest() != sha:
        raise ValueError(f"bundle {sha[:12]} does not match its hash (corrupt download?)")
    target = cache_dir / sha
    if target.is_dir():
        return target
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=".extract-"))
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            _extract(tar, tmp)
        share_tree(tmp)  # read by runs, which may be another OS user
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.is_dir():  # another thread won the race: use its copy
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target
