"""Git sync settings stored in the database win over the environment's, at once and after a
restart; `GET/PUT /api/sync/settings` is for admins and refuses bad input with a sentence."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fastflow.models import Role
from fastflow.settings import Settings
from tests.integration.test_sync import HELLO, commit, poll, repos  # noqa: F401
from tests.support.git import git
from tests.support.server import start_server


def test_settings_take_precedence_over_the_environment(
    make_settings: Callable[..., Settings],
    repos: dict[str, Path],  # noqa: F811
) -> None:
    git(repos["dev"], "checkout", "-q", "-b", "next")
    head = commit(repos["dev"], {"later.py": HELLO}, "on next", push="next")
    settings = make_settings(PIPELINES_DIR=str(repos["checkout"]), UV_PRE_HEAT="false")
    live = start_server(settings)
    try:
        with live.client() as c:
            shown = c.get("/api/sync/settings").json()
            assert shown["branch"] == {"value": "main", "default": "main", "stored": None}
            assert shown["auto_sync_interval"]["value"] is None
            assert shown["pre_heat"] == {"value": False, "default": False, "stored": None}
            r = c.put("/api/sync/settings", json={"branch": "next", "pre_heat": True})
            assert r.status_code == 200, r.text
            assert r.json()["branch"]["value"] == "next" and r.json()["updated_by"] == "admin"
            # A sync without a branch now pulls the stored one, not GIT_BRANCH.
            result = c.post("/api/sync").json()
            assert result["branch"] == "next" and result["commit"] == head
            assert c.get("/api/sync/status").json()["default_branch"] == "next"
            # The interval starts the loop: a new commit on `next` arrives by itself.
            r = c.put("/api/sync/settings", json={"auto_sync_interval": 10})
            assert r.json()["auto_sync_interval"]["value"] == 10
            assert live.services.sync_settings.loop is not None
            # null: back to the environment's value (auto-sync off).
            r = c.put("/api/sync/settings", json={"auto_sync_interval": None})
            assert r.json()["auto_sync_interval"] == {
                "value": None,
                "default": None,
                "stored": None,
            }
            assert live.services.sync_settings.loop is None
    finally:
        live.stop()
    # Stored in the database: a new server starts with them.
    again = start_server(settings)
    try:
        with again.client() as c:
            assert c.get("/api/sync/status").json()["default_branch"] == "next"
            assert again.services.sync.preheater is not None
    finally:
        again.stop()


def test_bad_settings_are_refused_with_a_sentence(
    make_settings: Callable[..., Settings],
    repos: dict[str, Path],  # noqa: F811
) -> None:
    live = start_server(make_settings(PIPELINES_DIR=str(repos["checkout"])))
    try:
        with live.client() as c:
            for body, words in [
                ({"branch": "bad..name"}, "not a valid branch name"),
                ({"branch": "-x"}, "not a valid branch name"),
                ({"branch": ""}, "branch"),
                ({"auto_sync_interval": 1}, "between 10 and"),
                ({"auto_sync_interval": -5}, "between 10 and"),
                ({"auto_sync_interval": "soon"}, "auto_sync_interval"),
                ({"pre_heat": "maybe"}, "pre_heat"),
                ({"colour": "blue"}, "colour"),
            ]:
                r = c.put("/api/sync/settings", json=body)
                assert r.status_code == 422, (body, r.text)
                assert words in str(r.json()["detail"]), (body, r.json())
            assert (
                c.put(
                    "/api/sync/settings",
                    content=b"[1,",
                    headers={"content-type": "application/json"},
                ).status_code
                == 422
            )
            assert c.get("/api/sync/settings").json()["branch"]["stored"] is None
        live.services.auth.create_user("olga", "operator-pass-1", Role.OPERATOR)
        with live.client(live.login("olga", "operator-pass-1")) as op:
            assert op.get("/api/sync/settings").status_code == 403
            assert op.put("/api/sync/settings", json={"branch": "x"}).status_code == 403
    finally:
        live.stop()
