"""`fastflow backup` while a real server runs a pipeline, `fastflow restore` into fresh folders
and a fresh database (SQLite and PostgreSQL), and a server started on what came back."""

from __future__ import annotations

import gzip
import os
import subprocess
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from fastflow.cli import app
from fastflow.settings import Settings
from tests.support.server import FASTFLOW_BIN, outside_env, start_server, wait_for_run
from tests.support.services import PostgresTemplate

SECRET = "s3cr3t-backup-value-4711"
PASSPHRASE = "correct horse battery staple"
WRITER = b"""
import os, pathlib
out = pathlib.Path(os.environ["FASTFLOW_ARTIFACTS_DIR"])
(out / "report.txt").write_text("artifact body\\n")
print("wrote report")
"""


def _env(settings: Settings, **env: str) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.sqlalchemy_url,
        "DATA_DIR": str(settings.data_dir),
        "LOGS_DIR": str(settings.logs_dir),
        "PIPELINES_DIR": str(settings.pipelines_dir),
        **env,
    }


def cli_process(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`fastflow …` as its own process against the installation `settings` describe."""
    return subprocess.run(
        [str(FASTFLOW_BIN), *args],
        env=outside_env(**_env(settings, **env)),
        cwd=settings.pipelines_dir.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def cli(settings: Settings, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The same in this process (starting Python and importing fastflow costs seconds);
    the test runs in its own folder, so no `.env` of the checkout's is read."""
    values: dict[str, str | None] = {k: None for k in os.environ if k.startswith("FASTFLOW_")}
    values.update(_env(settings, **env))
    result = CliRunner().invoke(app, list(args), env=values)
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


@pytest.fixture
def empty_db_url(
    db_url: str, tmp_path: Path, pg_template: PostgresTemplate | None
) -> Iterator[str]:
    """A database of the same engine with nothing in it: the new machine's."""
    if db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'new' / 'data' / 'fastflow.db'}"
        return
    assert pg_template is not None
    name = f"fastflow_r_{uuid.uuid4().hex[:10]}"
    with pg_template.admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(db_url).set(database=name).render_as_string(False)
    yield url
    pg_template.drop(url)


def _archive_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def _member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tar:
        f = tar.extractfile(name)
        assert f is not None
        return f.read()


def test_backup_while_serving_and_restore_on_a_new_machine(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    empty_db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = make_settings()
    live = start_server(settings)
    try:
        with live.client() as c:
            assert c.post(
                "/api/secrets", json={"key": "API_KEY", "value": SECRET, "is_secret": True}
            ).is_success
            user = {"username": "dora", "password": "pw-dora-123", "role": "operator"}
            assert c.post("/api/users", json=user).status_code == 201
            api_token = c.post("/api/auth/tokens", json={"name": "ci"}).json()["token"]
            schedule = c.post(
                "/api/schedules",
                json={
                    "pipeline_name": "hello",
                    "trigger_type": "CRON",
                    "trigger_value": "0 3 * * *",
                },
            ).json()
            hello = c.post("/api/pipelines/hello/run", json={"parameters": {"NAME": "bk"}}).json()
            build = c.post("/api/builds", files={"file": ("writer.py", WRITER)}).json()
            assert wait_for_run(c, hello["id"])["status"] == "SUCCESS"
            assert wait_for_run(c, build["run_id"])["status"] == "SUCCESS"
            going = c.post("/api/pipelines/sleeper/run", json={"parameters": {}}).json()
            wait_for_run(c, going["id"], ("RUNNING",))
            deadline = time.monotonic() + 30
            while "tick 3" not in c.get(f"/api/runs/{going['id']}/logs").text:
                assert time.monotonic() < deadline, "the sleeper printed nothing"
                time.sleep(0.1)

            sealed = cli_process(settings, "backup", str(tmp_path / "b.tar.gz"),
                         FASTFLOW_BACKUP_PASSPHRASE=PASSPHRASE)  # fmt: skip
            plain = cli(settings, "backup", str(tmp_path / "plain.tar"))
            assert c.get(f"/api/runs/{going['id']}").json()["status"] == "RUNNING"
            c.post(f"/api/runs/{going['id']}/cancel")
    finally:
        live.stop()
    assert sealed.returncode == 0, sealed.stderr
    assert "1 running" in sealed.stdout and "keys sealed" in sealed.stdout
    assert plain.returncode == 0, plain.stderr
    assert "holds no keys" in plain.stderr and "ENCRYPTION_KEY" in plain.stderr

    # Nothing of a secret or a key is readable in either archive.
    key_files = ["encryption_key", "secret_key", "hook_key", "worker_token"]
    key_values = [(settings.data_dir / k).read_text().strip() for k in key_files]
    for archive in (tmp_path / "b.tar.gz", tmp_path / "plain.tar"):
        content = _archive_bytes(archive)
        for needle in (SECRET, api_token, *key_values):
            assert needle.encode() not in content, archive
    with tarfile.open(tmp_path / "plain.tar") as tar:
        assert "keys.sealed" not in tar.getnames()

    old_logs = {
        run_id: (settings.logs_dir / f"{run_id}.log").read_bytes()
        for run_id in (hello["id"], build["run_id"])
    }
    going_then = _member(tmp_path / "b.tar.gz", f"logs/{going['id']}.log")

    new = make_settings(
        DATABASE_URL=empty_db_url,
        DATA_DIR=str(tmp_path / "new" / "data"),
        LOGS_DIR=str(tmp_path / "new" / "logs"),
    )
    refused = cli(new, "restore", str(tmp_path / "b.tar.gz"))
    assert refused.returncode == 1 and "sealed with a passphrase" in refused.stderr
    assert not new.logs_dir.exists()
    done = cli(new, "restore", str(tmp_path / "b.tar.gz"), FASTFLOW_BACKUP_PASSPHRASE=PASSPHRASE)
    assert done.returncode == 0, done.stderr
    assert "1 run(s) that were running at backup time are settled" in done.stdout
    again = cli(new, "restore", str(tmp_path / "b.tar.gz"), FASTFLOW_BACKUP_PASSPHRASE=PASSPHRASE)
    assert again.returncode == 1 and "not empty" in again.stderr and "--force" in again.stderr
    forced = cli(
        new, "restore", "--force", str(tmp_path / "b.tar.gz"),
        FASTFLOW_BACKUP_PASSPHRASE=PASSPHRASE,
    )  # fmt: skip
    assert forced.returncode == 0, forced.stderr

    live = start_server(new)
    try:
        with live.client() as c:
            assert c.get("/api/secrets/API_KEY").json()["value"] == SECRET
            with live.client(live.login("dora", "pw-dora-123")) as dora:
                assert dora.get("/api/auth/me").json()["role"] == "operator"
            with live.client(api_token) as ci:
                assert ci.get("/api/auth/me").status_code == 200
            got = c.get(f"/api/schedules/{schedule['id']}").json()
            assert (got["pipeline_name"], got["trigger_value"]) == ("hello", "0 3 * * *")
            for run_id, log in old_logs.items():
                assert c.get(f"/api/runs/{run_id}").json()["status"] == "SUCCESS"
                assert (new.logs_dir / f"{run_id}.log").read_bytes() == log
            assert "Hello, bk!" in c.get(f"/api/runs/{hello['id']}/logs").text
            artifacts = c.get(f"/api/runs/{build['run_id']}/artifacts").json()
            assert [a["path"] for a in artifacts] == ["report.txt"]
            assert c.get(artifacts[0]["url"]).content == b"artifact body\n"
            settled = c.get(f"/api/runs/{going['id']}").json()
            assert (settled["status"], settled["failure_kind"]) == ("FAILED", "LOST")
            assert "backup was taken while this run was running" in settled["error_message"]
            restored_log = (new.logs_dir / f"{going['id']}.log").read_bytes()
            assert restored_log.startswith(going_then) and len(restored_log) > len(going_then)
            assert "tick 3" in c.get(f"/api/runs/{going['id']}/logs").text
    finally:
        live.stop()
