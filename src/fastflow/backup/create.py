"""Taking a backup while the server runs: database copy first, then the files it refers to.

The database is copied first, so every run, artifact and upload it lists has its files in
the archive (a run that went on afterwards has more lines in its log than the copy says;
a restore settles it). Logs are taken up to their last complete line.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from fastflow import __version__
from fastflow.backup import db_postgres, db_sqlite, keys
from fastflow.backup.archive import ArchiveWriter, check_name
from fastflow.backup.db_common import DbCopy
from fastflow.backup.errors import BackupError
from fastflow.backup.manifest import KEYS_NAME, MANIFEST_NAME, Manifest
from fastflow.settings import ObjectStoreKind, Settings
from fastflow.storage.db import known_revisions


class Progress(Protocol):
    """Told what a backup or restore is doing; a terminal shows a bar, others nothing."""

    def stage(self, text: str, total: int | None = None) -> None: ...

    def advance(self, n: int) -> None: ...


class NoProgress:
    def stage(self, text: str, total: int | None = None) -> None:
        return None

    def advance(self, n: int) -> None:
        return None


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    manifest: Manifest
    seconds: float

    @property
    def keys_included(self) -> bool:
        return bool(self.manifest.keys)


def engine_of(url: str) -> str:
    """`sqlite` or `postgresql`, the engines a backup knows; BackupError for others."""
    if url.startswith("sqlite"):
        return "sqlite"
    if url.startswith("postgresql"):
        return "postgresql"
    raise BackupError(f"backups support SQLite and PostgreSQL, not {url.split(':', 1)[0]}")


def snapshot_database(url: str, target: Path) -> DbCopy:
    if engine_of(url) == "sqlite":
        return db_sqlite.snapshot(url, target)
    return db_postgres.snapshot(url, target)


@dataclass(frozen=True)
class _File:
    name: str
    path: Path
    size: int
    whole_lines: bool


def _log_files(logs_dir: Path) -> Iterator[_File]:
    if not logs_dir.is_dir():
        return
    for path in sorted(logs_dir.iterdir()):
        if path.name.endswith((".log", "_metrics.jsonl")) and _plain_file(path):
            name = f"logs/{path.name}"
            if _valid(name):
                yield _File(name, path, path.stat().st_size, whole_lines=True)


def _object_files(root: Path) -> Iterator[_File]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.name.startswith(".put-") or not _plain_file(path):
            continue  # an object being written, or not an object
        name = f"objects/{path.relative_to(root).as_posix()}"
        if _valid(name):
            yield _File(name, path, path.stat().st_size, whole_lines=False)


def _plain_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _valid(name: str) -> bool:
    try:
        check_name(name)
    except BackupError:
        return False
    return True


class BackupMaker:
    """Takes backups of the installation `settings` describe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _object_store(self) -> dict[str, str]:
        s = self.settings
        if s.object_store is ObjectStoreKind.LOCAL:
            return {"kind": "local"}
        # Referenced, not copied: the bucket keeps its own versions/replication.
        return {
            "kind": "s3",
            "bucket": s.s3_bucket or "",
            "prefix": s.s3_prefix,
            "endpoint_url": s.s3_endpoint_url or "",
        }

    def take(
        self, target: Path, passphrase: str | None = None, progress: Progress | None = None
    ) -> BackupResult:
        """Write one archive to `target`; BackupError (and no file) when that fails."""
        target = target.expanduser().absolute()
        if target.is_dir():
            raise BackupError(f"{target} is a folder: name the archive file to write")
        for folder in (self.settings.logs_dir, self.settings.objects_dir):
            if target.parent.resolve().is_relative_to(folder):
                raise BackupError(f"write the archive outside {folder}, which it backs up")
        try:
            return self._take(target, passphrase, progress or NoProgress())
        except OSError as exc:  # disk full, no permission …
            raise BackupError(f"writing the backup {target} failed: {exc}") from None

    def _take(self, target: Path, passphrase: str | None, progress: Progress) -> BackupResult:
        started = time.monotonic()
        settings = self.settings
        url = settings.sqlalchemy_url
        engine = engine_of(url)
        key_values = keys.collect(settings)
        sealed = keys.seal(key_values, passphrase) if passphrase and key_values else None
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fastflow-backup-") as tmp:
            progress.stage("copying the database")
            db_file = Path(tmp) / "database"
            copy = snapshot_database(url, db_file)
            revisions = known_revisions()
            if copy.revision is None:
                raise BackupError("the database has no fastflow schema yet: nothing to back up")
            if copy.revision not in revisions:
                raise BackupError(
                    f"the database is at revision {copy.revision}, which this fastflow "
                    f"({__version__}) does not know: back it up with the server's own version"
                )
            logs = list(_log_files(settings.logs_dir))
            objects = (
                list(_object_files(settings.objects_dir))
                if settings.object_store is ObjectStoreKind.LOCAL
                else []
            )
            total = db_file.stat().st_size + sum(f.size for f in (*logs, *objects))
            progress.stage("writing the archive", total)
            manifest = Manifest(
                fastflow_version=__version__,
                revision=copy.revision,
                engine=engine,
                created_at=datetime.now(UTC).isoformat(timespec="seconds"),
                object_store=self._object_store(),
            )
            with ArchiveWriter(target, progress.advance) as writer:
                writer.add_file(manifest.db_member, db_file)
                written = {"log_files": 0, "objects": 0}
                for f in (*logs, *objects):
                    # A file removed meanwhile (retention) is simply not in the archive.
                    if writer.add_file(f.name, f.path, f.whole_lines) is not None:
                        written["log_files" if f.name.startswith("logs/") else "objects"] += 1
                if sealed is not None:
                    writer.add_bytes(KEYS_NAME, sealed)
                    manifest.keys = sorted(key_values)
                manifest.counts = {**copy.counts, **written}
                manifest.members = dict(writer.members)
                writer.add_bytes(MANIFEST_NAME, manifest.to_json())
                size = writer.commit()
        return BackupResult(target, size, manifest, time.monotonic() - started)
