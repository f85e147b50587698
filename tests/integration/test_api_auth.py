"""Auth on every route: a table built from the OpenAPI schema, so a new route cannot slip by.

Every route by {no auth, bad token, viewer, operator, admin}: without credentials 401, with a
role below the route's 403, with enough rights neither. The expected roles live in
`tests/support/auth_table.py` (defaults by method, plus explicit overrides).
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator

import httpx
import pytest

from fastflow.models import Role
from fastflow.settings import Settings
from tests.support.auth_table import (
    PUBLIC,
    PUBLIC_ROUTES,
    ROLE_OVERRIDES,
    ROLES,
    WORKER_ONLY,
    allows,
    routes_of,
)
from tests.support.server import ADMIN_PASSWORD, LiveServer, start_server

PASSWORD = "role-password-1"
# Webhook callers (GitHub, CI) have no user login: these check their own per-hook secret
# token or HMAC body signature instead (docs/automation.md) — tested below.
HOOKS = {("POST", "/api/hooks/{pipeline}"), ("POST", "/api/sync/hook")}


@pytest.fixture
def tokens(server: LiveServer) -> Iterator[dict[str, str]]:
    out = {"admin": server.login()}
    for role in ("viewer", "operator"):
        server.services.auth.create_user(role, PASSWORD, Role(role))
        out[role] = server.login(role, PASSWORD)
    yield out


def call(method: str, url: str, headers: dict[str, str]) -> httpx.Response:
    """One request; an event stream (which may go on for long) is left after its headers."""
    with httpx.stream(method, url, headers=headers) as r:
        if not r.headers.get("content-type", "").startswith("text/event-stream"):
            r.read()
        return r


def assert_every_api_route_needs_auth(url: str) -> None:
    """Every route in the OpenAPI schema but the public ones answers 401 without a token.

    Also used by the UI tests, against a server with the web console mounted.
    """
    routes = routes_of(url)
    assert len(routes) > 10
    for route in routes:
        if route.needs == PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            r = httpx.request(route.method, url + route.concrete(), headers=headers)
            assert r.status_code == 401, (route, r.status_code, r.text)
            assert r.json()["detail"]


def test_every_route_answers_by_role(server: LiveServer, tokens: dict[str, str]) -> None:
    routes = routes_of(server.url)
    assert len(routes) > 20
    known = {(r.method, r.path) for r in routes}
    stale = [k for k in (*ROLE_OVERRIDES, *PUBLIC_ROUTES) if k not in known]
    assert not stale, f"auth table names routes that no longer exist: {stale}"
    # Logout ends the session it is called with: it goes last.
    for route in sorted(routes, key=lambda r: r.path == "/api/auth/logout"):
        url = server.url + route.concrete()
        if route.needs != PUBLIC:
            for headers in ({}, {"Authorization": "Bearer not-a-token"}):
                r = httpx.request(route.method, url, headers=headers)
                assert r.status_code == 401, (route, r.status_code, r.text)
                assert r.json()["detail"]
        if (route.method, route.path) in HOOKS | WORKER_ONLY:
            continue  # no user role applies: their own token check is tested elsewhere
        for role in ROLES:
            r = call(route.method, url, headers={"Authorization": f"Bearer {tokens[role]}"})
            if allows(role, route.needs):
                assert r.status_code not in (401, 403), (route, role, r.status_code, r.text)
            else:
                assert r.status_code == 403, (route, role, r.status_code, r.text)
                assert route.needs in r.json()["detail"]
            assert r.status_code < 500, (route, role, r.status_code, r.text)


def test_hooks_refuse_calls_without_or_with_a_wrong_secret(server: LiveServer) -> None:
    routes = {(r.method, r.path) for r in routes_of(server.url)}
    assert routes >= HOOKS
    for method, path in sorted(HOOKS):
        url = server.url + path.replace("{pipeline}", "hello")
        assert httpx.request(method, url).status_code == 401
        for headers in (
            {"Authorization": "Bearer not-a-token"},
            {"X-Fastflow-Token": "ffh_forged"},
            {"X-Hub-Signature-256": "sha256=" + "0" * 64},
        ):
            r = httpx.request(method, url, headers=headers, content=b"{}")
            assert r.status_code == 403, (path, headers, r.text)
            assert r.json() == {"detail": "invalid hook token or signature"}


def test_every_route_but_health_and_login_needs_a_token(server: LiveServer) -> None:
    assert_every_api_route_needs_auth(server.url)


def test_health_is_public(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/health")
    assert r.status_code == 200
    assert r.json()["database"] == "ok"


def test_login_gives_a_working_bearer_token(server: LiveServer) -> None:
    r = httpx.post(
        f"{server.url}/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
    )
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer"
    me = httpx.get(
        f"{server.url}/api/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json() == {"username": "admin", "role": "admin"}


def test_wrong_password_and_unknown_user_answer_the_same(server: LiveServer) -> None:
    for user, pw in (("admin", "wrong-password"), ("nobody", "whatever-pw")):
        r = httpx.post(f"{server.url}/api/auth/login", json={"username": user, "password": pw})
        assert r.status_code == 401
        assert r.json() == {"detail": "invalid username or password"}


def test_login_with_bad_body_is_a_clear_422(server: LiveServer) -> None:
    r = httpx.post(
        f"{server.url}/api/auth/login",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert "not valid JSON" in r.json()["detail"]


def test_viewer_cannot_start_runs(server: LiveServer) -> None:
    server.services.auth.create_user("vera", "viewer-password", Role.VIEWER)
    with server.client(server.login("vera", "viewer-password")) as viewer:
        assert viewer.get("/api/pipelines").status_code == 200
        r = viewer.post("/api/pipelines/hello/run", json={})
        assert r.status_code == 403
        assert "operator" in r.json()["detail"]


def test_websocket_refuses_without_a_valid_token(server: LiveServer) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    base = server.url.replace("http://", "ws://")
    for path in ("/ws/runs/hello", "/ws/build/hello", "/ws"):
        for suffix in ("", "?token=not-a-token"):
            with connect(base + path + suffix) as ws:
                with contextlib.suppress(ConnectionClosed):
                    ws.recv(timeout=10)  # the server speaks first: it closes
                assert ws.close_code == 4401, (path, ws.close_code)
                assert ws.close_reason


def test_client_library_is_served(server: LiveServer) -> None:
    r = httpx.get(f"{server.url}/static/fastflow-client.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert "class FastflowRunStream" in r.text
    assert "class BuildLogStream" in r.text


def test_usernames_people_cannot_tell_apart_are_one_name(server: LiveServer) -> None:
    with server.client() as c:
        for name, status in (
            ("Admin", 409),  # case does not count
            ("\uff41\uff44\uff4d\uff49\uff4e", 409),  # fullwidth letters: NFKC makes them "admin"
            ("admin ", 422),  # trailing space
            (" admin", 422),
            ("admin\u200b", 422),  # zero-width space
            ("ad\u202emin", 422),  # right-to-left override
            ("ad\tmin", 422),
        ):
            r = c.post("/api/users", json={"username": name, "password": "long-enough-1"})
            assert r.status_code == status, (name, r.text)
        fullwidth_eve = "\uff25\uff56\uff45"
        r = c.post("/api/users", json={"username": fullwidth_eve, "password": "long-enough-1"})
        assert r.status_code == 201 and r.json()["username"] == "Eve"
        assert [u["username"] for u in c.get("/api/users").json()] == ["Eve", "admin"]
    assert server.login("EVE", "long-enough-1")  # the same name, however it is cased


def test_api_docs_need_login_unless_made_public(
    server: LiveServer, make_settings: Callable[..., Settings]
) -> None:
    token = server.login()
    for path in ("/openapi.json", "/docs", "/redoc"):
        assert httpx.get(f"{server.url}{path}").status_code == 401, path
        signed_in = httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {token}"})
        assert signed_in.status_code == 200, path
    assert (
        "/api/runs"
        in httpx.get(
            f"{server.url}/openapi.json", headers={"Authorization": f"Bearer {token}"}
        ).json()["paths"]
    )
    # Offline: both pages load their scripts from this server, never from a CDN.
    signed = {"Authorization": f"Bearer {token}"}
    for path in ("/docs", "/redoc"):
        page = httpx.get(f"{server.url}{path}", headers=signed).text
        assert "http://" not in page and "https://" not in page, page
        assets = re.findall(r'(?:src|href)="(/docs/assets/[^"]+)"', page)
        assert assets, page
        for asset in assets:
            assert httpx.get(f"{server.url}{asset}").status_code == 401, asset
            got = httpx.get(f"{server.url}{asset}", headers=signed)
            assert got.status_code == 200 and len(got.content) > 1000, asset
    assert httpx.get(f"{server.url}/docs/assets/../../secret_key", headers=signed).status_code in (
        404,
        422,
    )
    public = start_server(make_settings(FASTFLOW_PUBLIC_DOCS="true"))
    try:
        for path in ("/openapi.json", "/docs", "/redoc", "/docs/assets/redoc.standalone.js"):
            assert httpx.get(f"{public.url}{path}").status_code == 200, path
    finally:
        public.stop()


def test_every_operation_declares_its_errors_and_a_clean_title(server: LiveServer) -> None:
    schema = httpx.get(
        f"{server.url}/openapi.json", headers={"Authorization": f"Bearer {server.login()}"}
    ).json()
    public = {("get", "/health"), ("get", "/static/fastflow-client.js")}
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            where = f"{method.upper()} {path}"
            # A title a person reads: words, no run-together identifiers.
            assert re.fullmatch(r"[A-Z][a-z]+( [A-Z][a-z]*)*", op["summary"]), where
            codes = set(op["responses"])
            if (method, path) not in public:
                assert "401" in codes, where
            if "{" in path and not path.endswith("/runs"):
                assert "404" in codes, where
            for code in codes & {"401", "403", "404", "409", "422", "429"}:
                body = op["responses"][code]["content"]["application/json"]["schema"]
                assert body["$ref"].rsplit("/", 1)[-1] in ("ErrorOut", "ValidationErrorOut")


def test_websocket_takes_the_console_cookie_from_its_own_origin_only(server: LiveServer) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    with httpx.Client(base_url=server.url) as browser:
        login = browser.post(
            "/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        cookie = f"fastflow_session={browser.cookies['fastflow_session']}"
        run = browser.post(
            "/api/pipelines/hello/run",
            json={},
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        ).json()
    host = server.url.split("://", 1)[1]
    url = f"ws://{host}/ws/runs/{run['id']}"
    same = {"Cookie": cookie, "Origin": f"http://{host}"}
    with connect(url, additional_headers=same) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "connected"
    other = {"Cookie": cookie, "Origin": "http://evil.example"}
    with connect(url, additional_headers=other) as ws:
        with contextlib.suppress(ConnectionClosed):
            ws.recv(timeout=10)
        assert ws.close_code == 4403 and "cross-origin" in (ws.close_reason or "")
