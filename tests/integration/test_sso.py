"""OpenID Connect SSO end to end against a real provider (npm's oidc-provider on loopback):
its development login and consent forms are filled in over HTTP, the code goes back to a real
fastflow server, and what comes out is a session, or a 4xx page with a sentence — never a 500.

One provider for the session and one fastflow server per configuration for the module (SQLite;
the store's SSO queries run on both databases in test_sso_accounts.py). Each test signs in
people of its own, so tests do not see each other's accounts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest

from fastflow.server import create_app
from fastflow.settings import load_settings
from tests.support.oidc_provider import CALLBACK, OidcProvider, SsoBrowser, with_query
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, LiveServer, free_port, start_server
from tests.support.services import SqliteTemplate, passable_temp

SSO_SETTINGS = {
    "FASTFLOW_OIDC_SCOPES": "openid email profile groups",
    "FASTFLOW_OIDC_ROLE_CLAIM": "groups",
    "FASTFLOW_OIDC_ADMIN_GROUPS": "fastflow-admins",
    "FASTFLOW_OIDC_OPERATOR_GROUPS": "fastflow-ops, release-team",
    "FASTFLOW_OIDC_ALLOWED_DOMAINS": "example.com",
}


def _server(
    root: Path, template: SqliteTemplate, provider: OidcProvider, **extra: Any
) -> LiveServer:
    port = free_port()
    (root / "pipelines").mkdir(parents=True)
    settings = load_settings(
        _env_file=None,
        DATABASE_URL=template.clone(root / "data" / "fastflow.db"),
        PIPELINES_DIR=str(root / "pipelines"),
        DATA_DIR=str(root / "data"),
        LOGS_DIR=str(root / "logs"),
        UV_CACHE_DIR=str(root / "uv-cache"),
        FASTFLOW_ADMIN_USER=ADMIN_USER,
        FASTFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
        FASTFLOW_UI=False,
        FASTFLOW_PUBLIC_URL=f"http://127.0.0.1:{port}",
        **provider.env(**extra),
    )
    return start_server(settings, port=port)


@pytest.fixture(scope="module")
def sso_server(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: SqliteTemplate,
    oidc_provider: OidcProvider,
) -> Iterator[LiveServer]:
    live = _server(
        passable_temp(tmp_path_factory, "sso"), sqlite_template, oidc_provider, **SSO_SETTINGS
    )
    yield live
    live.stop()


@pytest.fixture
def browser(sso_server: LiveServer) -> Iterator[Callable[[], SsoBrowser]]:
    """New browsers (own cookies, own provider session) for the test; closed after it."""
    made: list[SsoBrowser] = []

    def make() -> SsoBrowser:
        made.append(SsoBrowser(sso_server.url))
        return made[-1]

    yield make
    for b in made:
        b.close()


def refused(r: httpx.Response, status: int, sentence: str) -> None:
    """A page for people: the status, the sentence, a way back, and no session."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith("text/html")
    assert sentence in r.text, r.text
    assert 'href="/login"' in r.text
    assert "fastflow_session" not in r.headers.get("set-cookie", "")


def admin(server: LiveServer) -> httpx.Client:
    return server.client()


def test_first_sign_in_creates_the_user_and_groups_set_the_role_at_each_sign_in(
    sso_server: LiveServer, oidc_provider: OidcProvider, browser: Callable[[], SsoBrowser]
) -> None:
    oidc_provider.set_account("dana", groups=["release-team"], email="dana@example.com")
    first = browser()
    r = first.sign_in("dana", next_path="/runs?status=FAILED")
    assert r.status_code == 303, r.text
    assert r.headers["location"] == "/runs?status=FAILED"  # where she was going
    # The same cookies as a password login: the console's and the API's session.
    assert {"fastflow_session", "fastflow_csrf"} <= set(first.http.cookies.keys())
    assert first.me().json() == {"username": "dana", "role": "operator"}
    with admin(sso_server) as c:
        dana = next(u for u in c.get("/api/users").json() if u["username"] == "dana")
    assert dana["sso"] is True and dana["last_login_at"]

    # Promoted at the provider: admin at the next sign-in; the older session ends (role changed).
    oidc_provider.set_account("dana", groups=["fastflow-admins", "release-team"])
    second = browser()
    assert second.sign_in("dana").status_code == 303
    assert second.me().json() == {"username": "dana", "role": "admin"}
    assert first.me().status_code == 401
    # No matching group any more: the default role.
    oidc_provider.set_account("dana", groups=["somewhere-else"])
    third = browser()
    assert third.sign_in("dana").status_code == 303
    assert third.me().json()["role"] == "viewer"
    assert sso_server.services.users.by_sso(oidc_provider.issuer, "dana").username == "dana"


def test_accounts_of_other_domains_are_refused(
    sso_server: LiveServer, oidc_provider: OidcProvider, browser: Callable[[], SsoBrowser]
) -> None:
    oidc_provider.set_account("erin", email="erin@elsewhere.org")
    refused(browser().sign_in("erin"), 403, "Accounts of elsewhere.org may not sign in")
    oidc_provider.set_account("ezra", email="ezra@example.com", email_verified=False)
    refused(browser().sign_in("ezra"), 403, "is not verified at your identity provider")
    assert sso_server.services.users.by_username("erin") is None
    assert sso_server.services.users.by_username("ezra") is None


def test_a_disabled_user_stays_out(
    sso_server: LiveServer, browser: Callable[[], SsoBrowser]
) -> None:
    assert browser().sign_in("frank").status_code == 303
    with admin(sso_server) as c:
        assert c.patch("/api/users/frank", json={"disabled": True}).status_code == 200
    refused(browser().sign_in("frank"), 403, "Your account on this server is disabled")


def test_a_local_account_of_the_same_name_is_not_taken_over(
    sso_server: LiveServer, browser: Callable[[], SsoBrowser]
) -> None:
    with admin(sso_server) as c:
        r = c.post("/api/users", json={"username": "Gina", "password": "gina-local-pw"})
        assert r.status_code == 201
    refused(browser().sign_in("gina"), 409, "An account named 'Gina' already exists")
    # An administrator links them (docs/sso.md): then SSO signs in as that account.
    users = sso_server.services.users
    local = users.by_username("gina")
    users.link_sso("gina", sso_server.settings.oidc_issuer, "gina")
    b = browser()
    assert b.sign_in("gina").status_code == 303
    assert b.me().json()["username"] == "Gina"
    assert users.by_username("gina").id == local.id
    # Its password stopped working: it is an SSO account now.
    r = httpx.post(
        f"{sso_server.url}/api/auth/login", json={"username": "Gina", "password": "gina-local-pw"}
    )
    assert r.status_code == 401


def test_state_must_be_this_browsers(
    sso_server: LiveServer, browser: Callable[[], SsoBrowser]
) -> None:
    b = browser()
    back = b.at_provider(b.start(), "hank")
    refused(b.callback(with_query(back, state="forged-state")), 400, "its state differs")
    # Another browser (an attacker's link to the victim) has no sign-in record at all.
    refused(browser().callback(back), 400, "No SSO sign-in was started in this browser")
    # A forged record is not believed either.
    c = browser()
    c.http.cookies.set("fastflow_oidc", "not.a.record", path="/auth/oidc")
    refused(c.callback(back), 400, "sign-in record is not valid")
    assert sso_server.services.users.by_username("hank") is None


def test_a_callback_works_once(sso_server: LiveServer, browser: Callable[[], SsoBrowser]) -> None:
    b = browser()
    url = b.at_provider(b.start(), "ivan")
    record = b.http.cookies.get("fastflow_oidc")
    assert b.callback(url).status_code == 303
    assert "fastflow_oidc" not in b.http.cookies  # the record is gone after use
    refused(b.callback(url), 400, "No SSO sign-in was started")
    # Replayed with the record put back (a copied cookie): refused too.
    replay = browser()
    replay.http.cookies.set("fastflow_oidc", record or "", path="/auth/oidc")
    refused(replay.callback(url), 400, "was already used")


def test_nonce_and_a_tampered_id_token_are_refused(
    sso_server: LiveServer, oidc_provider: OidcProvider, browser: Callable[[], SsoBrowser]
) -> None:
    b = browser()
    # The provider is asked with a nonce other than the one this sign-in keeps.
    sent = with_query(b.start(), nonce="an-attackers-nonce-0123456789")
    refused(b.callback(b.at_provider(sent, "jane")), 400, "its nonce differs")
    expected = {
        "payload": "signature does not verify",
        "foreign-key": "signature does not verify",
        "alg-none": "uses an algorithm the identity provider does not announce",
    }
    for mode, sentence in expected.items():
        oidc_provider.tamper(mode)
        refused(browser().sign_in("jane"), 400, sentence)
    assert sso_server.services.users.by_username("jane") is None
    assert sso_server.services.users.by_username("someone-else") is None


def test_next_never_leaves_the_site(
    sso_server: LiveServer, browser: Callable[[], SsoBrowser]
) -> None:
    r = browser().sign_in("kate", next_path="//evil.com/phish")
    assert r.status_code == 303 and r.headers["location"] == "/"
    r = browser().sign_in("kate", next_path="https://evil.com/")
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_hostile_callbacks_get_a_sentence_never_a_500(
    sso_server: LiveServer, browser: Callable[[], SsoBrowser]
) -> None:
    url = sso_server.url + CALLBACK
    b = browser()
    r = b.http.get(url, params={"error": "access_denied", "error_description": "<b>call us</b>"})
    refused(r, 403, "cancelled or refused at your identity provider")
    assert "call us" not in r.text  # the provider's free text is never shown
    for params in ({}, {"code": "x"}, {"state": "y" * 5000, "code": "\u202e\x00"}):
        refused(b.http.get(url, params=params), 400, "No SSO sign-in was started")
    b.start()  # a real record, but a made-up code
    state = b.http.cookies.get("fastflow_oidc")
    assert state
    real_state = jwt.decode(state, options={"verify_signature": False})["state"]
    refused(
        b.http.get(url, params={"state": real_state, "code": "made-up"}),
        400,
        "refused this sign-in answer",
    )


@pytest.mark.parametrize("configured", [False, True])
async def test_sso_off_or_provider_unreachable(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: SqliteTemplate, configured: bool
) -> None:
    root = passable_temp(tmp_path_factory, "sso-off")
    nobody_there = {
        "FASTFLOW_OIDC_ISSUER": f"http://127.0.0.1:{free_port()}",
        "FASTFLOW_OIDC_CLIENT_ID": "fastflow",
    }
    settings = load_settings(
        _env_file=None,
        DATABASE_URL=sqlite_template.clone(root / "fastflow.db"),
        PIPELINES_DIR=str(root),
        DATA_DIR=str(root / "data"),
        LOGS_DIR=str(root / "logs"),
        FASTFLOW_UI=False,
        **(nobody_there if configured else {}),
    )
    app = create_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        if configured:
            r = await c.get("/auth/oidc/login")
            assert r.status_code == 502 and "could not be reached" in r.text
        else:
            for path in ("/auth/oidc/login", CALLBACK):
                r = await c.get(path)
                assert r.status_code == 404 and "is not configured on this server" in r.text
    app.state.services.db.dispose()


def test_local_login_false_leaves_sso_api_tokens_and_the_break_glass_admin(
    tmp_path_factory: pytest.TempPathFactory,
    sqlite_template: SqliteTemplate,
    oidc_provider: OidcProvider,
) -> None:
    live = _server(
        passable_temp(tmp_path_factory, "sso-local-off"),
        sqlite_template,
        oidc_provider,
        FASTFLOW_LOCAL_LOGIN="false",
    )
    try:
        login = f"{live.url}/api/auth/login"
        body = {"username": ADMIN_USER, "password": ADMIN_PASSWORD}
        r = httpx.post(login, json=body)
        assert r.status_code == 403
        assert "password login is turned off on this server" in r.json()["detail"]
        # A wrong password gets the very same answer (who is break-glass stays unknown).
        wrong = httpx.post(login, json={"username": ADMIN_USER, "password": "wrong"})
        assert (wrong.status_code, wrong.json()) == (403, r.json())
        # SSO still opens a session, from which API tokens still work.
        b = SsoBrowser(live.url)
        assert b.sign_in("lena").status_code == 303
        csrf = {"X-CSRF-Token": b.http.cookies["fastflow_csrf"]}
        made = b.http.post(f"{live.url}/api/auth/tokens", json={"name": "ci"}, headers=csrf).json()
        b.close()
        assert httpx.get(
            f"{live.url}/api/auth/me", headers={"Authorization": f"Bearer {made['token']}"}
        ).json() == {"username": "lena", "role": "viewer"}
        # The break-glass admin (named with the CLI) still logs in with its password.
        live.services.users.set_break_glass(ADMIN_USER)
        assert httpx.post(login, json=body).status_code == 200
    finally:
        live.stop()
