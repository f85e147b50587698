"""Auth on every route: a table built from the OpenAPI schema, so a new route cannot slip by."""

from __future__ import annotations

import re

import httpx

from tests.support.server import ADMIN_PASSWORD, LiveServer

PUBLIC = {("GET", "/health"), ("POST", "/api/auth/login")}


def _routes(url: str) -> list[tuple[str, str]]:
    schema = httpx.get(f"{url}/openapi.json").json()
    routes = []
    for path, ops in schema["paths"].items():
        for method in ops:
            routes.append((method.upper(), path))
    return routes


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "hello", path)


def assert_every_api_route_needs_auth(url: str) -> None:
    """Every route in the OpenAPI schema but the PUBLIC ones answers 401 without a token.

    Also used by the UI tests, against a server with the web console mounted.
    """
    routes = _routes(url)
    assert len(routes) > 10
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        for headers in ({}, {"Authorization": "Bearer not-a-token"}):
            r = httpx.request(method, url + _concrete(path), headers=headers)
            assert r.status_code == 401, (method, path, r.status_code, r.text)
            assert r.json()["detail"]


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
    from fastflow.models import Role

    server.services.auth.create_user("vera", "viewer-password", Role.VIEWER)
    with server.client(server.login("vera", "viewer-password")) as viewer:
        assert viewer.get("/api/pipelines").status_code == 200
        r = viewer.post("/api/pipelines/hello/run", json={})
        assert r.status_code == 403
        assert "operator" in r.json()["detail"]
