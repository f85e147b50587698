"""Secrets: encrypted at rest (SQLite file, pg_dump), visible only to admins, masked in runs."""

from __future__ import annotations

import base64
import os
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import sqlalchemy as sa

from fastflow.errors import ConfigError
from fastflow.models import Role
from fastflow.secrets.crypto import SecretCipher
from fastflow.server import create_app
from fastflow.settings import Settings
from tests.support.server import LiveServer, start_server, wait_for_run

SECRET = "s3cr3t-Value-9f8e7d6c5b4a"
OTHER = "another-secret-0123456789"


def _store(client: httpx.Client) -> None:
    for key, value, is_secret in (
        ("API_KEY", SECRET, True),
        ("OTHER_SECRET", OTHER, True),
        ("REGION", "eu-central-1", False),
    ):
        r = client.post("/api/secrets", json={"key": key, "value": value, "is_secret": is_secret})
        assert r.status_code == 201, r.text


def test_crud_and_values_only_for_admins(server: LiveServer, client: httpx.Client) -> None:
    _store(client)
    assert client.get("/api/secrets/API_KEY").json()["value"] == SECRET
    server.services.auth.create_user("vic", "viewer-pass-1", Role.VIEWER)
    with server.client(server.login("vic", "viewer-pass-1")) as viewer:
        listed = {s["key"]: s for s in viewer.get("/api/secrets").json()}
        assert listed["API_KEY"]["value"] is None
        assert listed["REGION"]["value"] == "eu-central-1"  # a plain parameter
        assert viewer.get("/api/secrets/API_KEY").json()["value"] is None
        assert SECRET not in viewer.get("/api/secrets").text
        assert viewer.put("/api/secrets/API_KEY", json={"value": "x"}).status_code == 403
    r = client.put("/api/secrets/API_KEY", json={"value": SECRET + "-2"})
    assert r.json()["value"] == SECRET + "-2"
    assert client.post("/api/secrets", json={"key": "API_KEY", "value": "v"}).status_code == 409
    assert client.post("/api/secrets", json={"key": "FASTFLOW_X", "value": "v"}).status_code == 422
    assert client.post("/api/secrets", json={"key": "1BAD", "value": "v"}).status_code == 422
    assert client.delete("/api/secrets/API_KEY").status_code == 204
    assert client.get("/api/secrets/API_KEY").status_code == 404


def test_database_holds_no_plain_secret(
    server: LiveServer, client: httpx.Client, settings: Settings
) -> None:
    _store(client)
    db = server.services.db
    if db.dialect == "sqlite":
        with db.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        path = Path(sa.engine.make_url(db.url).database or "")
        dumped = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
    else:
        url = sa.engine.make_url(db.url)
        dumped = subprocess.run(
            ["pg_dump", "-h", url.host or "127.0.0.1", "-U", url.username or "postgres",
             "-p", str(url.port or 5432), url.database or ""],
            capture_output=True, check=True,
        ).stdout  # fmt: skip
        assert b"CREATE TABLE public.secrets" in dumped  # the dump is real
    assert b"API_KEY" in dumped  # keys are not secret; the values are
    assert SECRET.encode() not in dumped
    assert OTHER.encode() not in dumped
    assert base64.b64encode(SECRET.encode()) not in dumped


def test_run_output_masks_secret_everywhere(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    live = start_server(make_settings(FASTFLOW_MAX_LINE_BYTES=1024))
    try:
        with live.client() as client:
            _store(client)
            run = client.post("/api/pipelines/print_secret/run", json={}).json()
            done = wait_for_run(client, run["id"])
            assert done["status"] == "FAILED"
            forms = [
                SECRET,
                SECRET[: len(SECRET) // 2 + 3],
                base64.b64encode(SECRET.encode()).decode(),
                quote(SECRET, safe=""),
            ]
            raw_file = (tmp_path / "logs" / f"{run['id']}.log").read_text()
            text = client.get(f"/api/runs/{run['id']}/logs").text
            events = client.get(f"/api/runs/{run['id']}/events/history").text
            download = client.get(f"/api/runs/{run['id']}/logs/download").text
            detail = client.get(f"/api/runs/{run['id']}").text
            sse = _read_sse(client, run["id"])
            ws = _read_ws(live, run["id"])
            assert "whole: ***" in sse and "whole: ***" in ws
            for where, body in (
                ("sse", sse),
                ("websocket", ws),
                ("file", raw_file),
                ("logs", text),
                ("events", events),
                ("download", download),
                ("detail", detail),
            ):
                for form in forms:
                    assert form not in body, (where, form)
                    assert OTHER not in body, where
            assert "whole: ***" in text
            assert "pieces: *** end" in text
            assert "b64: ***" in text
            assert "url: ***" in text
            assert "stderr: ***" in text
            assert "failed with ***" in text
            assert "x***y" in text  # joined fragments: masked across the boundary
            assert "other: ***" in text  # every secret reaches a run by default
            assert "plain: eu-central-1" in text
            assert "b64 inside: dXNlcjp***" in text  # base64 of a longer value around it
            assert '"text":"using ***"' in events
            env = client.get(f"/api/runs/{run['id']}").json()["env_vars"]
            assert env["API_KEY"] == "***" and env["OTHER_SECRET"] == "***"
            assert env["REGION"] == "eu-central-1"
    finally:
        live.stop()


def _read_sse(client: httpx.Client, run_id: str) -> str:
    """The whole SSE replay of a finished run (it ends after `complete`)."""
    with client.stream("GET", f"/api/runs/{run_id}/events") as r:
        assert r.status_code == 200
        return "".join(r.iter_text())


def _read_ws(live: LiveServer, run_id: str) -> str:
    """Every WebSocket message of a finished run's replay, until the server closes."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = live.url.replace("http://", "ws://") + f"/ws/runs/{run_id}?token={live.login()}"
    messages = []
    with connect(url) as ws:
        try:
            while True:
                messages.append(str(ws.recv(timeout=30)))
        except ConnectionClosed:
            pass
    return "\n".join(messages)


def test_pipeline_json_narrows_secrets(client: httpx.Client) -> None:
    _store(client)
    run = client.post("/api/pipelines/narrow_secrets/run", json={}).json()
    wait_for_run(client, run["id"])
    text = client.get(f"/api/runs/{run['id']}/logs").text
    assert "api: True other: False" in text
    assert "plain: eu-central-1" in text  # plain parameters are not narrowed
    run = client.post("/api/pipelines/missing_secret/run", json={}).json()
    done = wait_for_run(client, run["id"])
    assert done["failure_kind"] == "SETUP"
    assert "NOT_STORED" in done["error_message"]


def test_wrong_encryption_key_is_a_clear_startup_error(
    make_settings: Callable[..., Settings],
) -> None:
    first = make_settings()
    live = start_server(first)
    with live.client() as client:
        _store(client)
    live.stop()
    key_file = first.data_dir / "encryption_key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    app = create_app(make_settings(ENCRYPTION_KEY=SecretCipher.generate_key()))
    with pytest.raises(ConfigError, match="cannot be decrypted with this ENCRYPTION_KEY"):
        app.state.services.preflight()
    app.state.services.db.dispose()
    with pytest.raises(ConfigError, match="must be a Fernet key"):
        create_app(make_settings(ENCRYPTION_KEY="not-a-key"))
    # The generated key from the first start still works.
    live = start_server(make_settings())
    try:
        with live.client() as client:
            assert client.get("/api/secrets/API_KEY").json()["value"] == SECRET
    finally:
        live.stop()
