"""`fastflow user create/list/disable` against a real database."""

from __future__ import annotations

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
        assert live.login("carol", "pw-carol-1")
    finally:
        live.stop()
