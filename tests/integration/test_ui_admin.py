"""The console's admin pages with NiceGUI's `User`: users, API tokens, webhooks, builds —
each action goes through the services the API uses, and roles that may not act are refused
on the server, not only shown less."""

from __future__ import annotations

import asyncio
import io
import zipfile

import httpx
from fastapi import FastAPI
from nicegui import ui
from nicegui.elements.upload_files import SmallFileUpload

from fastflow.models import Role
from tests.integration.test_ui_user import app, logged_in, services  # noqa: F401
from tests.support.server import ADMIN_USER

PASSWORD = "console-pass-1"
# Actions hash passwords and start runs off the event loop: on a busy machine, wait longer.
RETRIES = 100


async def test_users_page_creates_changes_and_resets(app: FastAPI) -> None:  # noqa: F811
    auth = services(app).auth
    admin = await logged_in(app)
    await admin.open("/admin/users")
    admin.find(marker="user-name").type("dora")
    admin.find(marker="user-password").type("short")
    admin.find(marker="user-create-button").click()
    await admin.should_see("password must be at least 8 characters", retries=RETRIES)
    assert "dora" not in [u.username for u in auth.all_users()]
    admin.find(marker="user-password").clear().type(PASSWORD)
    admin.find(marker="user-create-button").click()
    await admin.should_see("User dora created (viewer)", retries=RETRIES)
    [dora] = [u for u in auth.all_users() if u.username == "dora"]
    assert dora.role == "viewer"
    # Reset her password: the new one logs in, the old one no longer does.
    await admin.should_see(marker="user-reset-dora", retries=RETRIES)  # the list redrawn
    admin.find(marker="user-reset-dora").click()
    admin.find(marker="reset-password").type("a-new-password-2")
    admin.find(marker="reset-save").click()
    await admin.should_see("Password of dora changed", retries=RETRIES)
    await logged_in(app, "dora", "a-new-password-2")
    # A viewer sees no admin links, and the admin page answers with a sentence only.
    viewer = await logged_in(app, "dora", "a-new-password-2")
    await viewer.open("/admin/users")
    await viewer.should_see("This page is for admins.", retries=RETRIES)
    await viewer.should_not_see("New user")
    await viewer.should_not_see("Webhooks")
    await viewer.open("/admin/webhooks")
    await viewer.should_see("This page is for admins.", retries=RETRIES)


async def test_roles_change_and_an_admin_cannot_demote_themself(app: FastAPI) -> None:  # noqa: F811
    auth = services(app).auth
    auth.create_user("otto", PASSWORD, Role.OPERATOR)
    admin = await logged_in(app)
    await admin.open("/admin/users")

    def role_of(name: str) -> str:
        return next(u.role for u in auth.all_users() if u.username == name)

    admin.find(marker="user-role-otto").elements.pop().set_value("admin")
    await admin.should_see("otto is now admin", retries=RETRIES)
    assert role_of("otto") == "admin"
    admin.find(marker="user-role-admin").elements.pop().set_value("viewer")
    await admin.should_see("you cannot disable or demote yourself", retries=RETRIES)
    assert role_of(ADMIN_USER) == "admin"
    admin.find(marker="user-active-otto").elements.pop().set_value(False)
    await admin.should_see("otto disabled", retries=RETRIES)
    assert next(u for u in auth.all_users() if u.username == "otto").disabled


async def test_tokens_page_shows_a_new_token_once_and_revokes(app: FastAPI) -> None:  # noqa: F811
    auth = services(app).auth
    auth.create_user("olga", PASSWORD, Role.OPERATOR)
    user = await logged_in(app, "olga", PASSWORD)
    await user.open("/tokens")
    await user.should_see("No API tokens yet.", retries=RETRIES)
    user.find(marker="token-name").type("ci")
    user.find(marker="token-create-button").click()
    await user.should_see("Copy it now", retries=RETRIES)
    [shown] = user.find(marker="once-value").elements
    raw = shown.text  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as api:
        me = await api.get("/api/auth/me", headers={"Authorization": f"Bearer {raw}"})
        assert me.json() == {"username": "olga", "role": "operator"}
        user.find(marker="once-close").click()
        await user.open("/tokens")
        await user.should_not_see(raw)  # never again
        await user.should_see("last used 2", retries=RETRIES)  # a timestamp: the call above used it
        user.find(marker="token-revoke").click()
        user.find(marker="token-revoke-confirm").click()
        await user.should_see("Token ci revoked", retries=RETRIES)
        again = await api.get("/api/auth/me", headers={"Authorization": f"Bearer {raw}"})
        assert again.status_code == 401


async def test_webhooks_page_adds_tests_and_makes_hook_tokens(app: FastAPI) -> None:  # noqa: F811
    svc = services(app)
    admin = await logged_in(app)
    await admin.open("/admin/webhooks")
    admin.find(marker="outbound-url").type("ftp://example.com/x")
    admin.find(marker="outbound-add").click()
    await admin.should_see("url: must be an http:// or https:// URL", retries=RETRIES)
    assert svc.outbound.all() == []
    # A receiver that is not there: the test delivery is recorded with its error.
    admin.find(marker="outbound-url").clear().type("http://127.0.0.1:9/hook")
    admin.find(marker="outbound-add").click()
    await admin.should_see("Signing secret", retries=RETRIES)
    [hook] = svc.outbound.all()
    admin.find(marker="once-close").click()
    await admin.should_see(marker="outbound-test", retries=RETRIES)  # the list redrawn
    admin.find(marker="outbound-test").click()
    await admin.should_see("Test notification queued", retries=RETRIES)
    for _ in range(200):
        deliveries = svc.outbound.deliveries(hook.id)
        if deliveries and deliveries[0].attempts:
            break
        await asyncio.sleep(0.05)
    assert deliveries[0].event == "test" and deliveries[0].last_error
    # An inbound hook token for a pipeline starts it without a login.
    admin.find(marker="inbound-target").elements.pop().set_value("hello")
    admin.find(marker="inbound-add").click()
    await admin.should_see("Hook token", retries=RETRIES)
    [shown] = admin.find(marker="once-value").elements
    token = shown.text  # type: ignore[attr-defined]
    [inbound] = svc.inbound_hooks.all()
    assert inbound.target == "pipeline:hello"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://test") as api:
        r = await api.post("/api/hooks/hello", headers={"X-Fastflow-Token": token}, json={})
        assert r.status_code in (200, 202), r.text


def _zip(main: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("main.py", main)
    return buf.getvalue()


async def test_builds_page_uploads_runs_and_runs_again(app: FastAPI) -> None:  # noqa: F811
    svc = services(app)
    svc.auth.create_user("olga", PASSWORD, Role.OPERATOR)
    user = await logged_in(app, "olga", PASSWORD)
    await user.open("/builds")
    await user.should_see("Nothing uploaded yet.", retries=RETRIES)
    [upload] = user.find(ui.upload).elements
    user.find(marker="build-parameters").type("[1, 2]")
    await upload.handle_uploads(  # type: ignore[attr-defined]
        [SmallFileUpload("job.zip", "application/zip", _zip("print('zipped')\n"))]
    )
    await user.should_see("give a JSON object", retries=RETRIES)
    assert svc.builds.page(10, 0)[1] == 0
    user.find(marker="build-parameters").clear()
    user.find(marker="build-name").type("adhoc-one")
    await upload.handle_uploads(  # type: ignore[attr-defined]
        [SmallFileUpload("job.zip", "application/zip", _zip("print('zipped')\n"))]
    )
    await user.should_see("Uploaded job.zip", retries=RETRIES)
    [item], total = svc.builds.page(10, 0)
    assert total == 1 and item.name == "adhoc-one" and item.uploaded_by == "olga"
    await user.should_see(marker="build-rerun-adhoc-one", retries=RETRIES)
    user.find(marker="build-rerun-adhoc-one").click()
    await user.should_see("of adhoc-one started", retries=RETRIES)
    assert len(svc.builds.runs_of(item)) == 2
    # A viewer sees the list but has no upload form, and "Run again" is off.
    svc.auth.create_user("vic", PASSWORD, Role.VIEWER)
    viewer = await logged_in(app, "vic", PASSWORD)
    await viewer.open("/builds")
    await viewer.should_see("adhoc-one", retries=RETRIES)
    await viewer.should_not_see("Upload and run")
    [again] = viewer.find(marker="build-rerun-adhoc-one").elements
    assert not again.enabled


async def test_sync_settings_are_edited_by_admins_only(app: FastAPI) -> None:  # noqa: F811
    svc = services(app)
    admin = await logged_in(app)
    await admin.open("/sync")
    await admin.should_see("Branch (environment: main)")
    admin.find(marker="settings-branch").type("bad..name")
    admin.find(marker="settings-save").click()
    await admin.should_see("branch: 'bad..name' is not a valid branch name", retries=RETRIES)
    assert svc.sync_settings.view()["branch"]["stored"] is None
    admin.find(marker="settings-branch").clear().type("release")
    admin.find(marker="settings-interval").elements.pop().set_value(120)
    admin.find(marker="settings-preheat").elements.pop().set_value("off")
    admin.find(marker="settings-save").click()
    await admin.should_see("Sync settings saved", retries=RETRIES)
    now = svc.sync_settings.effective()
    assert (now.branch, now.auto_sync_interval, now.pre_heat) == ("release", 120.0, False)
    assert svc.sync.default_branch == "release" and svc.sync.preheater is None
    svc.auth.create_user("olga", PASSWORD, Role.OPERATOR)
    operator = await logged_in(app, "olga", PASSWORD)
    await operator.open("/sync")
    await operator.should_see("Only admins change these.")
    [save] = operator.find(marker="settings-save").elements
    assert not save.enabled
    await svc.sync_settings.update({"auto_sync_interval": None}, "admin")
