"""Restoring refuses what is not a whole, honest backup of this fastflow or an older one, with
one line and nothing written; an older archive is migrated forward; caught runs are settled."""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from fastflow.backup import keys
from fastflow.backup.create import BackupMaker
from fastflow.backup.errors import BackupError
from fastflow.backup.restore import Restorer
from fastflow.backup.settle import INTERRUPTED, settle_interrupted
from fastflow.cli import app
from fastflow.events.log import read_events
from fastflow.events.recorder import RunRecorder
from fastflow.models import RunStatus
from fastflow.records import Run
from fastflow.secrets.crypto import load_cipher
from fastflow.secrets.service import SecretService
from fastflow.secrets.store import SecretStore
from fastflow.settings import Settings, load_settings
from fastflow.storage.database import Database
from fastflow.storage.db import create_db_engine, current_revision, known_revisions, upgrade
from fastflow.storage.run_store import RunStore
from tests.support.services import SqliteTemplate

PASSPHRASE = "a long enough passphrase"
Members = list[tuple[tarfile.TarInfo, bytes]]


def _settings(root: Path, db: str | None = None) -> Settings:
    return load_settings(
        _env_file=None,
        DATABASE_URL=db or f"sqlite:///{root / 'data' / 'fastflow.db'}",
        DATA_DIR=str(root / "data"),
        LOGS_DIR=str(root / "logs"),
        PIPELINES_DIR=str(root / "pipelines"),
    )


@pytest.fixture
def source(tmp_path: Path, sqlite_template: SqliteTemplate) -> Settings:
    """A small installation: a secret, a run with its log, an artifact."""
    root = tmp_path / "source"
    settings = _settings(root, sqlite_template.clone(root / "data" / "fastflow.db"))
    db = Database(settings.sqlalchemy_url)
    SecretService(SecretStore(db), load_cipher(settings)).create("TOKEN", "plain-value-1", True)
    run = RunStore(db).create(Run(pipeline_name="hello", status="SUCCESS"))
    db.dispose()
    recorder = RunRecorder(run.id, settings.logs_dir / f"{run.id}.log")
    recorder.log_lines("stdout", [("one", False), ("two", False)])
    recorder.close()
    (settings.objects_dir / "runs" / run.id / "artifacts").mkdir(parents=True)
    (settings.objects_dir / "runs" / run.id / "artifacts" / "a.txt").write_text("artifact")
    return settings


@pytest.fixture
def good(source: Settings, tmp_path: Path) -> Path:
    path = tmp_path / "good.tar"
    BackupMaker(source).take(path, PASSPHRASE)
    return path


def _members(path: Path) -> Members:
    with tarfile.open(path) as tar:
        return [(m, tar.extractfile(m).read()) for m in tar]  # type: ignore[union-attr]


def _write(path: Path, members: Members) -> Path:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, kind: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, "/etc/passwd"
    return info, b""


def _folder(name: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    return info, b""


def _edit_manifest(items: Members, **changes: Any) -> Members:
    out = []
    for info, data in items:
        if info.name == "manifest.json":
            manifest = orjson.loads(data)
            manifest.update(changes)
            info, data = _file("manifest.json", orjson.dumps(manifest))
        out.append((info, data))
    return out


def _flip(members: Members, prefix: str) -> Members:
    out = []
    for info, data in members:
        if info.name.startswith(prefix):
            data = bytes([data[0] ^ 1]) + data[1:]
        out.append((info, data))
    return out


def _huge(path: Path, members: Members) -> Path:
    """A member whose header claims a petabyte, followed by a little data."""
    info = tarfile.TarInfo("logs/huge.log")
    info.size = 2**50
    path.write_bytes(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape") + b"x" * 4096)
    return path


HOSTILE: dict[str, tuple[Callable[[Path, Members], Path], str]] = {
    "climbs out": (
        lambda p, m: _write(p, [_file("../evil.txt", b"x"), *m]),
        "no part of a fastflow backup",
    ),
    "climbs out of logs": (
        lambda p, m: _write(p, [_file("logs/../../evil", b"x"), *m]),
        "no part of a fastflow backup",
    ),
    "absolute": (
        lambda p, m: _write(p, [_file("/tmp/evil", b"x"), *m]),
        "no part of a fastflow backup",
    ),
    "object climbs out": (
        lambda p, m: _write(p, [_file("objects/runs/../../../x", b"x"), *m]),
        "no part of a fastflow backup",
    ),
    "symlink": (
        lambda p, m: _write(p, [*m[:1], _link("logs/x.log", tarfile.SYMTYPE), *m[1:]]),
        "a link",
    ),
    "hard link": (lambda p, m: _write(p, [_link("logs/y.log", tarfile.LNKTYPE), *m]), "a link"),
    "folder": (lambda p, m: _write(p, [*m[:1], _folder("objects/runs"), *m[1:]]), "a folder"),
    "huge member": (_huge, "free space"),
    "bad checksum": (lambda p, m: _write(p, _flip(m, "logs/")), "SHA-256"),
    "bad database": (lambda p, m: _write(p, _flip(m, "db/")), "SHA-256"),
    "member not listed": (
        lambda p, m: _write(p, [*m[:-1], _file("logs/extra.log", b"{}\n"), m[-1]]),
        "does not list",
    ),
    "member missing": (lambda p, m: _write(p, m[1:]), "lacks 'db/fastflow.sqlite'"),
    "twice": (lambda p, m: _write(p, [m[0], *m]), "twice"),
    "no manifest": (lambda p, m: _write(p, m[:-1]), "no manifest"),
    "truncated": (lambda p, m: _cut(_write(p, m)), "truncated"),
    "not a tar": (lambda p, m: _bytes(p, b"PK\x03\x04 a zip, not a tar" * 40), "not a fastflow"),
    "empty": (lambda p, m: _bytes(p, b""), "not a fastflow"),
    "newer fastflow": (
        lambda p, m: _write(p, _edit_manifest(m, fastflow_version="99.0")),
        "restore it with fastflow 99.0 or newer",
    ),
    "unknown revision": (
        lambda p, m: _write(p, _edit_manifest(m, revision="9999")),
        "revision 9999",
    ),
    "other engine": (
        lambda p, m: _write(
            p,
            [
                (_file("db/fastflow.pgdump", d)[0], d) if i.name.startswith("db/") else (i, d)
                for i, d in _edit_manifest(
                    m,
                    engine="postgresql",
                    members={
                        ("db/fastflow.pgdump" if k.startswith("db/") else k): v
                        for k, v in orjson.loads(m[-1][1])["members"].items()
                    },
                )
            ],
        ),
        "holds a PostgreSQL database and this installation uses SQLite",
    ),
    "manifest damaged": (
        lambda p, m: _write(p, [*m[:-1], _file("manifest.json", b"{not json")]),
        "manifest is damaged",
    ),
}


def _cut(path: Path) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _restore_cli(target: Settings, archive: Path, passphrase: str = PASSPHRASE) -> Any:
    env = {
        "DATABASE_URL": target.sqlalchemy_url,
        "DATA_DIR": str(target.data_dir),
        "LOGS_DIR": str(target.logs_dir),
        "PIPELINES_DIR": str(target.pipelines_dir),
        "FASTFLOW_BACKUP_PASSPHRASE": passphrase,
    }
    return CliRunner().invoke(app, ["restore", str(archive)], env=env)


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_in_one_line_with_nothing_written(
    case: str, good: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    make, expected = HOSTILE[case]
    archive = make(tmp_path / "hostile.tar", _members(good))
    target = _settings(tmp_path / "target")
    result = _restore_cli(target, archive)
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert result.stderr.startswith("fastflow: ") and result.stderr.count("\n") == 1
    assert expected in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "target").exists()
    assert not (tmp_path / "evil.txt").exists()


def test_a_truncated_compressed_archive_and_a_wrong_passphrase(
    source: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    archive = tmp_path / "b.tar.gz"
    BackupMaker(source).take(archive, PASSPHRASE)
    target = _settings(tmp_path / "target")
    wrong = _restore_cli(target, archive, passphrase="not the passphrase")
    assert wrong.exit_code == 1 and "does not open the keys" in wrong.stderr
    result = _restore_cli(target, _cut(archive))
    assert result.exit_code == 1 and "truncated" in result.stderr, result.output
    assert not (tmp_path / "target").exists()


def test_sealed_keys_with_a_hostile_cost_are_refused_quickly() -> None:
    box = orjson.loads(keys.seal({"secret_key": "k"}, PASSPHRASE))
    box["n"] = 2**30
    with pytest.raises(BackupError, match="damaged"):
        keys.unseal(orjson.dumps(box), PASSPHRASE)
    assert keys.unseal(keys.seal({"secret_key": "k"}, PASSPHRASE), PASSPHRASE) == {
        "secret_key": "k"
    }


def test_an_older_archive_is_migrated_forward_and_caught_runs_are_settled(
    tmp_path: Path,
) -> None:
    source = _settings(tmp_path / "source")
    older = known_revisions()[-2]
    engine = create_db_engine(source.sqlalchemy_url)
    upgrade(engine, older)
    engine.dispose()
    db = Database(source.sqlalchemy_url)
    runs = RunStore(db)
    caught = runs.create(Run(pipeline_name="hello", status="RUNNING", log_file="/elsewhere"))
    ended = runs.create(Run(pipeline_name="hello", status="RUNNING", log_file="/elsewhere"))
    waiting = runs.create(Run(pipeline_name="hello", status="PENDING"))
    db.dispose()
    for run_id, complete in ((caught.id, False), (ended.id, True)):
        recorder = RunRecorder(run_id, source.logs_dir / f"{run_id}.log")
        recorder.log_lines("stdout", [("working", False)])
        if complete:  # it finished after the database was copied
            recorder.complete(status="SUCCESS", success=True, exit_code=0)
        recorder.close()

    archive = tmp_path / "old.tar.gz"
    result = BackupMaker(source).take(archive)
    assert result.manifest.revision == older and not result.keys_included
    assert result.manifest.counts["runs_running"] == 2

    target = _settings(tmp_path / "target")
    report = Restorer(target).restore(archive)
    assert report.revision == known_revisions()[-1] and report.settled == 2
    db = Database(target.sqlalchemy_url)
    try:
        assert current_revision(db.engine) == known_revisions()[-1]
        runs = RunStore(db)
        lost = runs.get(caught.id)
        assert (lost.status, lost.failure_kind, lost.error_message) == (
            "FAILED",
            "LOST",
            INTERRUPTED,
        )
        assert lost.log_file == str(target.logs_dir / f"{caught.id}.log")
        assert runs.get(ended.id).status == "SUCCESS"
        assert runs.get(waiting.id).status == "PENDING"
        assert settle_interrupted(db, target.logs_dir) == 0
    finally:
        db.dispose()
    events = list(read_events(target.logs_dir / f"{caught.id}.log"))
    assert [e["type"] for e in events] == ["log", "error", "complete"]
    assert [e["seq"] for e in events] == [1, 2, 3]
    assert events[-1]["status"] == RunStatus.FAILED.value


def test_the_passphrase_comes_from_a_file_or_the_environment(tmp_path: Path) -> None:
    env = load_settings(_env_file=None, FASTFLOW_BACKUP_PASSPHRASE="from the environment")
    assert keys.passphrase_from(env, None) == "from the environment"
    file = tmp_path / "passphrase"
    file.write_text("from a file 123\nignored\n")
    assert keys.passphrase_from(env, file) == "from a file 123"
    file.write_text("short\n")
    with pytest.raises(BackupError, match="at least 8 characters"):
        keys.passphrase_from(env, file)
    with pytest.raises(BackupError, match="cannot read the passphrase file"):
        keys.passphrase_from(env, tmp_path / "missing")
    assert keys.passphrase_from(load_settings(_env_file=None), None) is None
