"""Restoring an archive: read and check all of it, then write database, logs, objects, keys.

Nothing is written before every member's name, type, size and SHA-256 matched the manifest,
the archive proved to come from this fastflow or an older one, and its keys opened. Then the
database is migrated forward and the runs the backup caught running are settled.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from fastflow import __version__
from fastflow.backup import db_postgres, db_sqlite, keys
from fastflow.backup.archive import copy_member, extract, scan
from fastflow.backup.create import NoProgress, Progress, engine_of
from fastflow.backup.errors import BackupError
from fastflow.backup.manifest import ENGINE_NAMES, KEYS_NAME, MANIFEST_NAME, Manifest, Member
from fastflow.backup.settle import point_logs_at, settle_interrupted
from fastflow.secrets.crypto import SecretCipher
from fastflow.settings import ObjectStoreKind, Settings
from fastflow.storage.database import Database
from fastflow.storage.db import current_revision, known_revisions
from fastflow.storage.objects import build_object_store


@dataclass
class RestoreReport:
    manifest: Manifest
    revision: str | None
    settled: int
    keys_restored: list[str]
    warnings: list[str] = field(default_factory=list)


def _free_bytes(*folders: Path) -> int:
    """Free space on the fullest filesystem any of `folders` is (or would be) on."""
    free: list[int] = []
    for folder in folders:
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        free.append(shutil.disk_usage(existing).free)
    return min(free)


def _has_entries(folder: Path) -> bool:
    return folder.is_dir() and any(folder.iterdir())


def _write_atomically(target: Path, fill: Callable[[IO[bytes]], None]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".restore-")
    try:
        with open(fd, "wb") as out:
            fill(out)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Restorer:
    """Restores archives into the installation `settings` describe."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.url = settings.sqlalchemy_url
        self.engine = engine_of(self.url)
        self._db = db_sqlite if self.engine == "sqlite" else db_postgres

    def occupied(self) -> list[str]:
        """What is already there and a restore would replace (empty: a fresh target)."""
        s, found = self.settings, []
        if not self._db.is_empty(self.url):
            found.append("the database has tables")
        if _has_entries(s.logs_dir):
            found.append(f"{s.logs_dir} is not empty")
        if s.object_store is ObjectStoreKind.LOCAL and _has_entries(s.objects_dir):
            found.append(f"{s.objects_dir} is not empty")
        found += [f"{p} exists" for p in keys.existing(s.data_dir)]
        return found

    def _budget(self) -> int:
        return _free_bytes(self.settings.data_dir, self.settings.logs_dir)

    def verify(self, archive: Path) -> tuple[Manifest, bytes | None]:
        """Read all of the archive and check it; returns its manifest and sealed keys."""
        found = scan(archive, self._budget())
        if found.manifest is None:
            raise BackupError(f"{archive} has no manifest: it is truncated or not a backup")
        manifest = Manifest.parse(found.manifest)
        manifest.check_members(found.members)
        manifest.check_compatible(__version__, known_revisions())
        return manifest, found.sealed_keys

    def restore(
        self,
        archive: Path,
        passphrase: str | None = None,
        force: bool = False,
        progress: Progress | None = None,
    ) -> RestoreReport:
        """Check all of `archive`, then restore it; BackupError in one line when it cannot."""
        try:
            return self._restore(archive, passphrase, force, progress or NoProgress())
        except (OSError, sa.exc.SQLAlchemyError) as exc:
            detail = exc.args[0] if isinstance(exc, sa.exc.SQLAlchemyError) else exc
            one_line = " ".join(str(detail).split())
            raise BackupError(
                f"the restore failed ({one_line}); once that is fixed, run it again with --force"
            ) from None

    def _restore(
        self, archive: Path, passphrase: str | None, force: bool, progress: Progress
    ) -> RestoreReport:
        s = self.settings
        if self.engine == "postgresql":
            db_postgres.check_tools()
        if not force and (found := self.occupied()):
            raise BackupError(
                f"the target is not empty ({'; '.join(found)}): a restore writes into an "
                "empty database and empty folders; --force replaces what is there"
            )
        progress.stage("checking the archive")
        manifest, sealed = self.verify(archive)
        if manifest.engine != self.engine:
            raise BackupError(
                f"the archive holds a {ENGINE_NAMES[manifest.engine]} database and this "
                f"installation uses {ENGINE_NAMES[self.engine]}: restore into the engine the "
                "backup was taken from (a restore does not convert between engines)"
            )
        key_values: dict[str, str] = {}
        if manifest.keys:
            if passphrase is None:
                raise BackupError(
                    "the archive's keys are sealed with a passphrase: give it in "
                    "FASTFLOW_BACKUP_PASSPHRASE or with --passphrase-file"
                )
            assert sealed is not None  # listed in the manifest, so checked present
            key_values = keys.unseal(sealed, passphrase)

        # Checked: from here on, writing.
        if force and self.engine == "postgresql":
            db_postgres.drop_all_tables_at(self.url)
        self._unpack(archive, manifest, progress)
        keys.write(key_values, s.data_dir)

        progress.stage("migrating the database")
        db = Database(self.url)
        try:
            db.migrate()
            revision = current_revision(db.engine)
            settled = settle_interrupted(db, s.logs_dir)
            point_logs_at(db, s.logs_dir)
            warnings = self._key_warnings(db, key_values)
        finally:
            db.dispose()
        if manifest.object_store.get("kind") == "s3":
            warnings.append(
                f"the archive's objects (artifacts, uploads) are in S3 bucket "
                f"{manifest.object_store.get('bucket')!r}, not in the archive: point "
                "OBJECT_STORE=s3 and S3_BUCKET at it"
            )
        return RestoreReport(manifest, revision, settled, sorted(key_values), warnings)

    def _unpack(self, archive: Path, manifest: Manifest, progress: Progress) -> None:
        s = self.settings
        progress.stage("restoring", sum(m.size for m in manifest.members.values()))
        s.data_dir.mkdir(parents=True, exist_ok=True)
        store = build_object_store(s)
        with tempfile.TemporaryDirectory(dir=s.data_dir, prefix=".fastflow-restore-") as tmp:
            staging = Path(tmp)
            for name, f in extract(archive, self._budget()):
                if name in (MANIFEST_NAME, KEYS_NAME):
                    continue
                expected = manifest.members[name]

                def fill(
                    out: IO[bytes], f: IO[bytes] = f, name: str = name, expected: Member = expected
                ) -> None:
                    copy_member(f, out, name, expected, progress.advance)

                if name == manifest.db_member:
                    folder = db_sqlite.staging_dir(self.url) if self.engine == "sqlite" else staging
                    copy = folder / ".fastflow-restore-db"
                    _write_atomically(copy, fill)
                    self._db.restore(copy, self.url)
                    copy.unlink(missing_ok=True)
                elif name.startswith("logs/"):
                    _write_atomically(s.logs_dir / name[len("logs/") :], fill)
                else:
                    part = staging / "object"
                    _write_atomically(part, fill)
                    store.put_file(name[len("objects/") :], part)
                    part.unlink()

    def _key_warnings(self, db: Database, restored: dict[str, str]) -> list[str]:
        """Say so when the restored secrets will not decrypt with the key the server uses."""
        s = self.settings
        warnings = [
            f"{var} is set here and overrides the key restored from the archive"
            for var in keys.overridden(s, restored)
        ]
        key = s.encryption_key or restored.get("encryption_key")
        with db.engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT value FROM secrets WHERE is_secret = :t LIMIT 1"), {"t": True}
            ).first()
        if row is None:
            return warnings
        if key is None:
            warnings.append(
                "the archive holds no keys: put the old ENCRYPTION_KEY (or its file "
                f"{s.data_dir / 'encryption_key'}) and the signing key in place before "
                "starting, or the server refuses to start on the restored secrets"
            )
            return warnings
        try:
            SecretCipher(key).decrypt(str(row[0]))
        except Exception:
            warnings.append(
                "the restored secrets do not decrypt with the ENCRYPTION_KEY in use: the "
                "server will refuse to start until the key they were written with is set"
            )
        return warnings
