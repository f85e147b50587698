"""GitHub App auth for sync. GitHub cannot exist here, so `FakeGitHub` stands in: a local HTTP
server speaking the token endpoint (`POST /app/installations/{id}/access_tokens`, checking the
RS256 JWT) and recording the `Authorization` git sends when fetching from it."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from fastflow.settings import Settings
from tests.support.git import git
from tests.support.server import start_server

APP_ID, INSTALLATION = "4242", "777"


class FakeGitHub:
    """Stand-in for api.github.com and a GitHub-hosted repository (which answers 404)."""

    def __init__(self, public_key: Any) -> None:
        self.public_key = public_key
        self.jwt_claims: list[dict[str, Any]] = []
        self.git_auth: list[str | None] = []
        self.tokens: list[str] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                if self.path != f"/app/installations/{INSTALLATION}/access_tokens":
                    return self._answer(404, {"message": "Not Found"})
                raw = self.headers.get("Authorization", "").removeprefix("Bearer ")
                try:
                    claims = jwt.decode(raw, fake.public_key, algorithms=["RS256"])
                except jwt.PyJWTError as exc:
                    return self._answer(401, {"message": str(exc)})
                fake.jwt_claims.append(claims)
                token = f"ghs_fake{len(fake.tokens)}secretvalue"
                fake.tokens.append(token)
                expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
                self._answer(201, {"token": token, "expires_at": expires})

            def do_GET(self) -> None:
                fake.git_auth.append(self.headers.get("Authorization"))
                self._answer(404, {"message": "Not Found"})

            def _answer(self, code: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def app_key(tmp_path: Path) -> tuple[Path, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "app.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path, key.public_key()


@pytest.fixture
def fake_github(app_key: tuple[Path, Any]) -> Iterator[FakeGitHub]:
    fake = FakeGitHub(app_key[1])
    yield fake
    fake.close()


def test_installation_token_is_sent_to_git_cached_and_never_stored(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    fake_github: FakeGitHub,
    app_key: tuple[Path, Any],
) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    git(checkout, "init", "-q", "-b", "main")
    git(checkout, "remote", "add", "origin", f"{fake_github.url}/org/pipelines.git")
    settings = make_settings(
        PIPELINES_DIR=str(checkout),
        GITHUB_APP_ID=APP_ID,
        GITHUB_INSTALLATION_ID=INSTALLATION,
        GITHUB_PRIVATE_KEY_PATH=str(app_key[0]),
        GITHUB_API_URL=fake_github.url,
    )
    live = start_server(settings)
    try:
        with live.client() as c:
            for _ in range(2):
                r = c.post("/api/sync")
                assert r.status_code == 502, r.text  # the fake repository answers 404
            status_text = c.get("/api/sync/status").text
    finally:
        live.stop()
    assert len(fake_github.tokens) == 1  # the second sync reused the cached token
    token = fake_github.tokens[0]
    claims = fake_github.jwt_claims[0]
    assert claims["iss"] == APP_ID and claims["exp"] - claims["iat"] <= 600
    basic = "Basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert fake_github.git_auth and set(fake_github.git_auth) == {basic}
    assert token not in (checkout / ".git" / "config").read_text()
    assert git(checkout, "remote", "get-url", "origin").endswith("/org/pipelines.git")
    assert token not in status_text and basic.split()[1] not in status_text


def test_incomplete_github_app_settings_fail_at_start(
    make_settings: Callable[..., Settings],
) -> None:
    from fastflow.errors import ConfigError
    from fastflow.services import build_services

    with pytest.raises(ConfigError, match="GITHUB_INSTALLATION_ID"):
        build_services(make_settings(GITHUB_APP_ID=APP_ID))
