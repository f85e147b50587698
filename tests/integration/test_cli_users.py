"""`fastflow user create/list/disable` against a real database."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from fastflow.cli import app
from fastflow.settings import Settings
from tests.support.server import start_server


def test_user_list_and_disable(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(settings.data_dir.parent)
    for name, value in {
        "DATABASE_URL": settings.sqlalchemy_url,
        "DATA_DIR": str(settings.data_dir),
        "LOGS_DIR": str(settings.logs_dir),
        "PIPELINES_DIR": str(settings.pipelines_dir),
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    r = runner.invoke(
        app, ["user", "create", "carol", "--role", "operator", "--password", "pw-carol-1"]
    )
    assert r.exit_code == 0, r.output
    live = start_server(settings)
    try:
        token = live.login("carol", "pw-carol-1")
        r = runner.invoke(app, ["user", "list"])
        assert r.exit_code == 0
        assert "carol\toperator\tactive" in r.output
        r = runner.invoke(app, ["user", "disable", "carol"])
        assert r.exit_code == 0, r.output
        with live.client(token) as c:
            assert c.get("/api/auth/me").status_code == 401  # at once, not at token expiry
        assert "carol\toperator\tdisabled" in runner.invoke(app, ["user", "list"]).output
        r = runner.invoke(app, ["user", "disable", "nobody"])
        assert r.exit_code == 1 and "not found" in r.output
        assert runner.invoke(app, ["user", "disable", "carol", "--enable"]).exit_code == 0
        with live.client(token) as c:
            assert c.get("/api/auth/me").status_code == 401  # re-enabling revives nothing
        fresh = live.login("carol", "pw-carol-1")
        with live.client(fresh) as c:
            api_token = c.post("/api/auth/tokens", json={"name": "ci"}).json()["token"]
            assert c.get("/api/auth/me").status_code == 200
        # A password reset ends every earlier session and API token of the user.
        r = runner.invoke(app, ["user", "create", "carol", "--reset", "--password", "pw-carol-2"])
        assert r.exit_code == 0, r.output
        for old in (fresh, api_token):
            with live.client(old) as c:
                me = c.get("/api/auth/me")
                assert me.status_code == 401 and "changed" in me.json()["detail"], me.text
        with live.client(live.login("carol", "pw-carol-2")) as c:
            assert c.get("/api/auth/me").status_code == 200
    finally:
        live.stop()


def test_a_role_change_ends_the_users_sessions_and_tokens(
    settings: Settings,
) -> None:
    live = start_server(settings)
    try:
        with live.client() as admin:
            r = admin.post(
                "/api/users",
                json={"username": "dave", "password": "pw-dave-12", "role": "operator"},
            )
            assert r.status_code == 201, r.text
            session = live.login("dave", "pw-dave-12")
            with live.client(session) as c:
                token = c.post("/api/auth/tokens", json={"name": "ci"}).json()["token"]
            assert admin.patch("/api/users/dave", json={"role": "viewer"}).status_code == 200
            for old in (session, token):
                with live.client(old) as c:
                    assert c.get("/api/auth/me").status_code == 401
            # Raising the role again revives nothing either: a token's role never rises.
            assert admin.patch("/api/users/dave", json={"role": "admin"}).status_code == 200
            with live.client(token) as c:
                assert c.get("/api/auth/me").status_code == 401
            with live.client(live.login("dave", "pw-dave-12")) as c:
                assert c.get("/api/auth/me").json()["role"] == "admin"
    finally:
        live.stop()


def test_user_commands_in_a_folder_without_a_database_say_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("DATABASE_URL", "DATA_DIR", "LOGS_DIR", "PIPELINES_DIR"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    for args in (
        ["user", "list"],
        ["user", "create", "eve", "--password", "pw-eve-123"],
        ["user", "disable", "eve"],
    ):
        r = runner.invoke(app, args)
        assert r.exit_code == 2, (args, r.output)
        assert r.stderr.startswith("fastflow: no fastflow database here (data/fastflow.db does")
        assert "DATA_DIR or DATABASE_URL" in r.stderr and "fastflow db upgrade" in r.stderr
    assert not (tmp_path / "data").exists()  # nothing made on the way
