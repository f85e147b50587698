"""SSO accounts on SQLite and PostgreSQL: the store's identity queries, the CLI that names the
break-glass admin and links accounts, and the console's login page with password login off."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest
from nicegui.testing.user import User
from typer.testing import CliRunner

from fastflow.auth.passwords import hash_password
from fastflow.auth.service import AuthService, LocalLoginDisabledError
from fastflow.auth.tokens import TokenIssuer
from fastflow.cli import app as cli
from fastflow.errors import AuthError, ConflictError, NotFoundError
from fastflow.settings import Settings
from fastflow.storage.database import Database
from fastflow.storage.user_store import UserStore
from tests.support.nicegui_app import console_app
from tests.support.oidc_provider import OidcProvider
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER

ISS = "https://idp.example.com"


@pytest.fixture
def users(settings: Settings) -> Iterator[UserStore]:
    db = Database(settings.sqlalchemy_url)
    yield UserStore(db)
    db.dispose()


def test_sso_identities_in_the_store(users: UserStore) -> None:
    ann = users.create_sso("ann", "viewer", ISS, "sub-1")
    assert ann.is_sso and ann.password_hash is None
    assert users.by_sso(ISS, "sub-1").id == ann.id  # type: ignore[union-attr]
    assert users.by_sso("https://other.example.com", "sub-1") is None
    with pytest.raises(ConflictError):
        users.create_sso("ANN", "viewer", ISS, "sub-2")  # names stay unique, case aside
    # An SSO account has no password: a password login fails like a wrong one, no error.
    auth = AuthService(users, TokenIssuer("k" * 40, 5))
    with pytest.raises(AuthError, match="invalid username or password"):
        auth.login("ann", "")
    users.create("bob", "not-a-hash", "operator")
    with pytest.raises(ConflictError, match="already signs in as 'ann'"):
        users.link_sso("bob", ISS, "sub-1")
    bob = users.link_sso("Bob", ISS, "sub-3")
    assert bob.is_sso and users.by_sso(ISS, "sub-3").username == "bob"  # type: ignore[union-attr]
    with pytest.raises(NotFoundError):
        users.link_sso("nobody", ISS, "sub-4")
    # One break-glass account at most; only it passes when password login is off.
    rita_hash = hash_password("rita-password")
    users.create("root", rita_hash, "admin")
    users.create("rita", rita_hash, "admin")
    users.set_break_glass("root")
    users.set_break_glass("rita")
    assert [u.username for u in users.all() if u.break_glass] == ["rita"]
    off = AuthService(users, TokenIssuer("k" * 40, 5), local_login=False)
    assert off.login("rita", "rita-password")[1].username == "rita"
    with pytest.raises(LocalLoginDisabledError):
        off.login("root", "rita-password")  # the right password, but not break-glass
    users.set_break_glass(None)
    with pytest.raises(LocalLoginDisabledError):
        off.login("rita", "rita-password")


# The store's queries run on both databases above; what sits on them, on SQLite only.
SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_cli_names_the_break_glass_admin_and_links_accounts(
    settings: Settings, users: UserStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(settings.data_dir.parent)
    for name, value in {
        "DATABASE_URL": settings.sqlalchemy_url,
        "DATA_DIR": str(settings.data_dir),
        "LOGS_DIR": str(settings.logs_dir),
        "PIPELINES_DIR": str(settings.pipelines_dir),
        "FASTFLOW_OIDC_ISSUER": ISS + "/",
        "FASTFLOW_OIDC_CLIENT_ID": "fastflow",
    }.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()
    monkeypatch.delenv("FASTFLOW_OIDC_CLIENT_ID")
    r = runner.invoke(cli, ["user", "list"])
    assert r.exit_code == 2 and "FASTFLOW_OIDC_CLIENT_ID is needed too" in r.output
    monkeypatch.setenv("FASTFLOW_OIDC_CLIENT_ID", "fastflow")
    r = runner.invoke(cli, ["user", "break-glass", "keeper", "--password", "keeper-pw-1"])
    assert r.exit_code == 0, r.output
    assert "'keeper' is the break-glass admin" in r.output
    keeper = users.by_username("keeper")
    assert keeper is not None and keeper.break_glass and keeper.role == "admin"
    assert "keeper\tadmin\tactive\tbreak-glass" in runner.invoke(cli, ["user", "list"]).output
    r = runner.invoke(cli, ["user", "break-glass"])
    assert r.exit_code == 2 and "give a USERNAME, or --clear" in r.output
    users.create_sso("sam", "viewer", ISS, "sam-sub")
    r = runner.invoke(cli, ["user", "break-glass", "sam", "--password", "sam-password"])
    assert r.exit_code == 1 and "signs in with SSO" in r.output
    assert "sam\tviewer\tactive\tsso" in runner.invoke(cli, ["user", "list"]).output
    r = runner.invoke(cli, ["user", "create", "sam", "--reset", "--password", "sam-password"])
    assert r.exit_code == 1 and "signs in with SSO and has no password" in r.output

    users.create("tom", hash_password("tom-password"), "operator")
    r = runner.invoke(cli, ["user", "link-sso", "tom", "--subject", "tom-sub"])
    assert r.exit_code == 0, r.output
    assert users.by_sso(ISS, "tom-sub").username == "tom"  # type: ignore[union-attr]
    r = runner.invoke(cli, ["user", "link-sso", "keeper", "--subject", "tom-sub"])
    assert r.exit_code == 1 and "already signs in as 'tom'" in r.output
    assert runner.invoke(cli, ["user", "break-glass", "--clear"]).exit_code == 0
    assert not any(u.break_glass for u in users.all())


@SQLITE_ONLY
async def test_console_login_page_with_password_login_off(
    make_settings: Callable[..., Settings], oidc_provider: OidcProvider
) -> None:
    settings = make_settings(
        FASTFLOW_UI=True,
        FASTFLOW_LOCAL_LOGIN=False,
        **oidc_provider.env(FASTFLOW_OIDC_BUTTON_LABEL="Sign in with Keycloak"),
    )
    async with console_app(settings) as application:

        def visitor() -> User:
            transport = httpx.ASGITransport(application)
            return User(httpx.AsyncClient(transport=transport, base_url="http://test"))

        user = visitor()
        await user.open("/runs")
        await user.should_see("Sign in with Keycloak")
        await user.should_see("Password login is turned off on this server.")
        await user.should_not_see("Username")
        form = {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "next": "/"}
        r = await user.http_client.post("/login", data=form)
        assert r.status_code == 303 and "error=local-off" in r.headers["location"]
        assert "fastflow_session" not in user.http_client.cookies
        await user.open(r.headers["location"])
        await user.should_see("password login is turned off on this server")
        # The break-glass admin's way in: the form at /login?break_glass=1.
        application.state.services.users.set_break_glass(ADMIN_USER)
        keeper = visitor()
        await keeper.open("/login?break_glass=1")
        await keeper.should_see("Username")
        r = await keeper.http_client.post("/login", data=form)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "fastflow_session" in keeper.http_client.cookies
