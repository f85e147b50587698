"""GitHub App authentication: an RS256 JWT exchanged for an installation access token.

The token is cached in memory until shortly before it expires (GitHub issues them for an
hour), so frequent syncs do not hit GitHub's rate limit. It is never logged.
"""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import datetime
from pathlib import Path

import httpx
import jwt

from fastflow.errors import ConfigError
from fastflow.settings import Settings

REFRESH_MARGIN = 300.0  # renew five minutes before expiry


class GitHubAppError(Exception):
    """GitHub refused or failed the token exchange."""


class GitHubAppAuth:
    """Installation tokens for one GitHub App installation."""

    def __init__(
        self,
        app_id: str,
        installation_id: str,
        private_key_path: Path,
        api_url: str = "https://api.github.com",
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        try:
            self._key = private_key_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"GITHUB_PRIVATE_KEY_PATH: cannot read {private_key_path}: {exc.strerror}"
            ) from None
        self.app_id = app_id
        self.installation_id = installation_id
        self.api_url = api_url.rstrip("/")
        self._transport = transport
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()
        self.exchanges = 0  # how many tokens were fetched (visible in sync status)

    def app_jwt(self) -> str:
        """The App's own JWT: valid ten minutes, issued a minute back against clock drift."""
        now = int(time.time())
        payload = {"iat": now - 60, "exp": now + 540, "iss": self.app_id}
        return jwt.encode(payload, self._key, algorithm="RS256")

    async def token(self) -> str:
        """An installation token, from the cache while it has more than five minutes left."""
        async with self._lock:
            if self._token is not None and time.time() < self._expires - REFRESH_MARGIN:
                return self._token
            url = f"{self.api_url}/app/installations/{self.installation_id}/access_tokens"
            headers = {
                "Authorization": f"Bearer {self.app_jwt()}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            }
            async with httpx.AsyncClient(transport=self._transport, timeout=30) as client:
                try:
                    r = await client.post(url, headers=headers)
                except httpx.HTTPError as exc:
                    raise GitHubAppError(f"GitHub API not reachable: {exc}") from None
            if r.status_code != 201:
                raise GitHubAppError(
                    f"GitHub refused the installation token ({r.status_code}): {r.text[:300]}"
                )
            body = r.json()
            self._token = str(body["token"])
            expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
            self._expires = expires.timestamp()
            self.exchanges += 1
            return self._token

    async def git_header(self) -> tuple[str, str]:
        """(`Authorization` header for git over HTTPS, the token to mask in output)."""
        token = await self.token()
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        return f"Authorization: Basic {basic}", token


def github_app_from_settings(settings: Settings) -> GitHubAppAuth | None:
    """GitHub App auth when all three settings are given; some but not all is an error."""
    given = {
        "GITHUB_APP_ID": settings.github_app_id,
        "GITHUB_INSTALLATION_ID": settings.github_installation_id,
        "GITHUB_PRIVATE_KEY_PATH": settings.github_private_key_path,
    }
    if not any(given.values()):
        return None
    missing = [k for k, v in given.items() if not v]
    if missing:
        raise ConfigError(f"GitHub App sync needs {', '.join(missing)} as well")
    assert settings.github_app_id and settings.github_installation_id
    assert settings.github_private_key_path is not None
    return GitHubAppAuth(
        settings.github_app_id,
        settings.github_installation_id,
        settings.github_private_key_path,
        settings.github_api_url,
    )
