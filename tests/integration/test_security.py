"""Attacks on the surface: revoked tokens, API tokens, CSRF, brute force, traversal, size."""

from __future__ import annotations

import http.client
import logging
import time
from collections.abc import Callable, Iterator
from urllib.parse import quote

import httpx
import pytest
from fastapi import WebSocket
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from fastflow.api.deps import CSRF_HEADER, accept_authenticated
from fastflow.api.log_redaction import TokenRedactingFilter
from fastflow.models import Role
from fastflow.settings import Settings
from tests.support.auth_table import PUBLIC, WEBSOCKET_ROUTES, register_websocket_route, routes_of
from tests.support.server import ADMIN_PASSWORD, LiveServer, start_server

TRAVERSALS = [
    "..",
    "%2e%2e",
    "..%2f..%2fetc%2fpasswd",
    "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "%2Fetc%2Fpasswd",
    "a%00b",
    "..%5c..%5cwindows",
    "%252e%252e%252f",
]


def test_logout_revokes_the_token_at_once(server: LiveServer) -> None:
    token = server.login()
    other = server.login()
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(f"{server.url}/api/auth/me", headers=headers).status_code == 200
    assert httpx.post(f"{server.url}/api/auth/logout", headers=headers).status_code == 204
    r = httpx.get(f"{server.url}/api/auth/me", headers=headers)
    assert r.status_code == 401
    assert "revoked" in r.json()["detail"]
    # Only that session ended.
    me = httpx.get(f"{server.url}/api/auth/me", headers={"Authorization": f"Bearer {other}"})
    assert me.status_code == 200


def test_api_tokens_shown_once_hashed_scoped_revocable(
    server: LiveServer, client: httpx.Client
) -> None:
    r = client.post("/api/auth/tokens", json={"name": "ci", "role": "viewer"})
    assert r.status_code == 201
    created = r.json()
    raw = created["token"]
    assert raw.startswith("ff_") and created["prefix"] == raw[:10]
    listed = client.get("/api/auth/tokens").json()
    assert [t["id"] for t in listed] == [created["id"]]
    assert raw not in client.get("/api/auth/tokens").text  # shown once
    assert listed[0]["last_used_at"] is None
    with server.client(raw) as ci:
        assert ci.get("/api/auth/me").json() == {"username": "admin", "role": "viewer"}
        assert ci.get("/api/runs").status_code == 200
        assert ci.post("/api/pipelines/hello/run", json={}).status_code == 403  # scoped
        # A token cannot mint tokens, nor end a session.
        assert ci.post("/api/auth/tokens", json={"name": "x"}).status_code == 403
        assert ci.post("/api/auth/logout").status_code == 422
    assert client.get("/api/auth/tokens").json()[0]["last_used_at"] is not None
    row = server.services.auth.token_store.get(created["id"])
    assert row.token_hash != raw and raw not in row.model_dump_json()
    assert client.delete(f"/api/auth/tokens/{created['id']}").status_code == 204
    with server.client(raw) as ci:
        r = ci.get("/api/auth/me")
        assert r.status_code == 401
        assert "revoked" in r.json()["detail"]


def test_token_rights_follow_the_owner(server: LiveServer, client: httpx.Client) -> None:
    server.services.auth.create_user("ops", "operator-pw-1", Role.OPERATOR)
    with server.client(server.login("ops", "operator-pw-1")) as ops:
        assert ops.post("/api/auth/tokens", json={"name": "x", "role": "admin"}).status_code == 403
        raw = ops.post("/api/auth/tokens", json={"name": "deploy"}).json()["token"]
        admin_token = client.post("/api/auth/tokens", json={"name": "a"}).json()["id"]
        # Not their token: indistinguishable from a missing one.
        assert ops.delete(f"/api/auth/tokens/{admin_token}").status_code == 404
        assert ops.get("/api/auth/tokens", params={"all": "true"}).status_code == 403
    assert len(client.get("/api/auth/tokens", params={"all": "true"}).json()) == 2
    with server.client(raw) as ci:
        assert ci.get("/api/auth/me").json()["role"] == "operator"
        client.patch("/api/users/ops", json={"role": "viewer"}).raise_for_status()
        assert ci.get("/api/auth/me").status_code == 401  # a role change ends it, at once
    with server.client(server.login("ops", "operator-pw-1")) as ops:
        raw = ops.post("/api/auth/tokens", json={"name": "again"}).json()["token"]
    with server.client(raw) as ci:
        assert ci.get("/api/auth/me").json()["role"] == "viewer"
        client.patch("/api/users/ops", json={"disabled": True}).raise_for_status()
        assert ci.get("/api/auth/me").status_code == 401  # disabled owner: at once
    assert client.patch("/api/users/admin", json={"disabled": True}).status_code == 409


def test_cookie_session_needs_csrf_header_for_writes(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url) as browser:
        r = browser.post("/api/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD})
        cookie = r.headers.get_list("set-cookie")
        session = next(c for c in cookie if c.startswith("fastflow_session="))
        assert "HttpOnly" in session and "SameSite=lax" in session
        assert "Secure" not in session  # plain HTTP here; HTTPS (or the proxy's) sets it
        csrf = r.json()["csrf_token"]
        assert browser.cookies["fastflow_csrf"] == csrf
        assert browser.get("/api/auth/me").status_code == 200  # reads need no CSRF token
        r = browser.post("/api/pipelines/hello/disable")
        assert r.status_code == 403 and "CSRF" in r.json()["detail"]
        r = browser.post("/api/pipelines/hello/disable", headers={CSRF_HEADER: "forged"})
        assert r.status_code == 403
        r = browser.post("/api/pipelines/hello/disable", headers={CSRF_HEADER: csrf})
        assert r.status_code == 200
        assert browser.post("/api/auth/logout", headers={CSRF_HEADER: csrf}).status_code == 204
        assert browser.get("/api/auth/me").status_code == 401
    r = httpx.post(
        f"{server.url}/api/auth/login",
        json={"username": "admin", "password": ADMIN_PASSWORD},
        headers={"X-Forwarded-Proto": "https"},
    )
    # Behind a trusted proxy (uvicorn trusts 127.0.0.1 by default) HTTPS makes it Secure.
    session = next(c for c in r.headers.get_list("set-cookie") if c.startswith("fastflow_session="))
    assert "Secure" in session
    assert "strict-transport-security" in r.headers
    assert r.status_code == 200


def test_failed_logins_are_throttled(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> None:
    live = start_server(
        make_settings(FASTFLOW_LOGIN_MAX_FAILURES=3, FASTFLOW_LOGIN_MAX_FAILURES_PER_ADDRESS=6)
    )
    try:
        url = f"{live.url}/api/auth/login"

        def attempt(user: str, pw: str) -> httpx.Response:
            return httpx.post(url, json={"username": user, "password": pw})

        caplog.set_level(logging.WARNING)
        assert [attempt("admin", "wrong-pw").status_code for _ in range(3)] == [401] * 3
        r = attempt("admin", ADMIN_PASSWORD)  # even the right password: locked for now
        assert r.status_code == 429
        assert int(r.headers["Retry-After"]) > 0
        assert "login throttled for user 'admin'" in caplog.text
        assert "wrong-pw" not in caplog.text
        # Per address: spraying many usernames from one client is stopped too.
        codes = [attempt(f"user{i}", "wrong-pw").status_code for i in range(4)]
        assert codes == [401, 401, 401, 429]
    finally:
        live.stop()


def test_secure_headers_and_body_limit(server: LiveServer, client: httpx.Client) -> None:
    r = client.get("/api/runs")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in r.headers["content-security-policy"]
    big = b'{"parameters": {"A": "' + b"x" * (2 * 1024 * 1024) + b'"}}'
    r = client.post(
        "/api/pipelines/hello/run", content=big, headers={"content-type": "application/json"}
    )
    assert r.status_code == 413
    assert "too large" in r.json()["detail"]

    def chunks() -> object:
        for _ in range(40):
            yield b"x" * 65536

    r = client.post("/api/secrets", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


def test_path_traversal_on_every_path_parameter(server: LiveServer, client: httpx.Client) -> None:
    routes = [r for r in routes_of(server.url) if "{" in r.path and r.needs != PUBLIC]
    assert len(routes) > 10
    host, port = server.url.removeprefix("http://").split(":")
    auth = dict(client.headers)["authorization"]
    for route in routes:
        for attack in TRAVERSALS:
            # http.client sends the path as written (httpx would resolve "..").
            conn = http.client.HTTPConnection(host, int(port), timeout=30)
            conn.request(route.method, route.concrete(attack), headers={"Authorization": auth})
            resp = conn.getresponse()
            body = resp.read().decode(errors="replace")
            conn.close()
            assert 400 <= resp.status < 500, (route, attack, resp.status, body)
            assert "root:" not in body
    # Absolute paths and NUL inside a whole segment (not only encoded).
    for path in ("/api/runs/%2Fetc%2Fpasswd/logs", f"/api/pipelines/{quote('/etc')}"):
        assert 400 <= client.get(path).status_code < 500


def test_websocket_helper_rejects_without_token(server: LiveServer) -> None:
    """The helper the WebSocket routes use; registered here on a test-only route."""

    async def probe(websocket: WebSocket) -> None:
        user = await accept_authenticated(websocket, Role.OPERATOR)
        if user is not None:
            await websocket.send_text(f"hello {user.username}")
            await websocket.close()

    server.server.config.app.add_api_websocket_route("/api/test-ws", probe)
    register_websocket_route("/api/test-ws", "operator")
    try:
        ws_url = server.url.replace("http", "ws")
        for path, role in WEBSOCKET_ROUTES.items():
            assert role == "operator"
            with connect(f"{ws_url}{path}") as ws, pytest.raises(ConnectionClosed) as closed:
                ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
            server.services.auth.create_user("viewer1", "viewer-pw-1", Role.VIEWER)
            viewer = server.login("viewer1", "viewer-pw-1")
            with connect(f"{ws_url}{path}?token={viewer}") as ws, pytest.raises(ConnectionClosed):
                ws.recv()
            with connect(
                f"{ws_url}{path}",
                additional_headers={"Authorization": f"Bearer {server.login()}"},
            ) as ws:
                assert ws.recv() == "hello admin"
    finally:
        WEBSOCKET_ROUTES.pop("/api/test-ws", None)


def test_tokens_in_urls_are_redacted_from_the_access_log() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5", "GET", "/api/runs/1/events?from_seq=3&token=eyJhbGci.x.y", "1.1", 200),
        None,
    )  # fmt: skip
    TokenRedactingFilter().filter(record)
    assert "eyJhbGci" not in record.getMessage()
    assert "token=***" in record.getMessage() and "from_seq=3" in record.getMessage()


def test_a_refused_upload_is_answered_at_once_not_after_its_body(server: LiveServer) -> None:
    """A user's token on a worker-only upload route: 401 before the body is read, and the
    connection ends, so the client stops sending instead of the server draining it all."""
    sent = []

    def body() -> Iterator[bytes]:
        for _ in range(400):
            sent.append(1)
            yield b"x" * 65536
            time.sleep(0.02)

    headers = {
        "Authorization": f"Bearer {server.login()}",
        "X-Content-SHA256": "0" * 64,
        "Content-Length": str(400 * 65536),
    }
    try:
        r = httpx.put(
            f"{server.url}/api/worker/runs/abc/artifacts/x.txt",
            content=body(),
            headers=headers,
            timeout=60,
        )
        assert r.status_code == 401 and r.headers["connection"] == "close"
    except httpx.TransportError:
        pass  # the server closed while the client was still writing: refused all the same
    assert len(sent) < 400, "the server read the whole body of a request it refused"
