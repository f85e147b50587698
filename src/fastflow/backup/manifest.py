"""The manifest: what an archive holds, from which fastflow, with a SHA-256 of every member.

It is the archive's last member, written once every other member's digest is known; a restore
reads the whole archive, compares every member with it and only then writes anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import orjson
from packaging.version import InvalidVersion, Version

from fastflow.backup.errors import BackupError

FORMAT = 1
MANIFEST_NAME = "manifest.json"
KEYS_NAME = "keys.sealed"
DB_MEMBERS = {"sqlite": "db/fastflow.sqlite", "postgresql": "db/fastflow.pgdump"}
ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# Larger than any real manifest (100,000 runs list ~25 MB), small enough to hold in memory.
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
MAX_SEALED_BYTES = 64 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Member:
    size: int
    sha256: str


@dataclass
class Manifest:
    fastflow_version: str
    revision: str
    engine: str
    created_at: str
    counts: dict[str, int] = field(default_factory=dict)
    members: dict[str, Member] = field(default_factory=dict)
    # Names of the keys sealed in `keys.sealed`; empty when the archive holds no key.
    keys: list[str] = field(default_factory=list)
    # {"kind": "local"}, or where the S3 objects the archive refers to (but holds not) live.
    object_store: dict[str, str] = field(default_factory=dict)
    format: int = FORMAT

    def to_json(self) -> bytes:
        data: dict[str, Any] = {
            "format": self.format,
            "fastflow_version": self.fastflow_version,
            "revision": self.revision,
            "engine": self.engine,
            "created_at": self.created_at,
            "counts": self.counts,
            "keys": self.keys,
            "object_store": self.object_store,
            "members": {
                name: {"size": m.size, "sha256": m.sha256} for name, m in self.members.items()
            },
        }
        return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        """The manifest in `raw`, or BackupError when it is not one this fastflow can read."""
        try:
            data = orjson.loads(raw)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            fmt = data["format"]
            if fmt != FORMAT:
                raise BackupError(
                    f"the archive's format {fmt!r} is not one this fastflow reads "
                    f"(format {FORMAT}): restore it with the fastflow that made it"
                )
            members = {
                str(name): Member(int(m["size"]), str(m["sha256"]))
                for name, m in data["members"].items()
            }
            manifest = cls(
                fastflow_version=str(data["fastflow_version"]),
                revision=str(data["revision"]),
                engine=str(data["engine"]),
                created_at=str(data["created_at"]),
                counts={str(k): int(v) for k, v in data["counts"].items()},
                members=members,
                keys=[str(k) for k in data["keys"]],
                object_store={str(k): str(v) for k, v in data["object_store"].items()},
            )
        except BackupError:
            raise
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            raise BackupError("the archive's manifest is damaged (not fastflow's JSON)") from None
        if manifest.engine not in DB_MEMBERS:
            raise BackupError(
                f"the archive's manifest names an unknown database {manifest.engine!r}"
            )
        for name, m in members.items():
            if m.size < 0 or not _SHA256.match(m.sha256):
                raise BackupError(f"the archive's manifest is damaged (entry {name!r})")
        return manifest

    @property
    def db_member(self) -> str:
        return DB_MEMBERS[self.engine]

    def check_members(self, seen: dict[str, Member]) -> None:
        """Every member the manifest lists is in the archive, whole, and nothing else is."""
        for name, expected in self.members.items():
            got = seen.get(name)
            if got is None:
                raise BackupError(f"the archive lacks {name!r}, which its manifest lists")
            if got.size != expected.size:
                raise BackupError(
                    f"{name!r} in the archive has {got.size} bytes, its manifest says "
                    f"{expected.size}: the archive is damaged"
                )
            if got.sha256 != expected.sha256:
                raise BackupError(
                    f"{name!r} in the archive does not match its SHA-256 in the manifest: "
                    "the archive is damaged"
                )
        extra = sorted(set(seen) - set(self.members))
        if extra:
            raise BackupError(f"the archive holds {extra[0]!r}, which its manifest does not list")
        if self.db_member not in self.members:
            raise BackupError("the archive holds no database copy")

    def check_compatible(self, version: str, revisions: list[str]) -> None:
        """Refuse an archive of a newer fastflow, or of a schema this one does not know."""
        try:
            newer = Version(self.fastflow_version) > Version(version)
        except InvalidVersion:
            raise BackupError(
                f"the archive names fastflow version {self.fastflow_version!r}, which is not "
                "a version"
            ) from None
        if newer or self.revision not in revisions:
            raise BackupError(
                f"the archive was made by fastflow {self.fastflow_version} (database revision "
                f"{self.revision}); this is fastflow {version}, which knows revisions up to "
                f"{revisions[-1]}: restore it with fastflow {self.fastflow_version} or newer"
            )
