"""A real OpenID Connect provider for the SSO tests, and an HTTP "browser" that signs in at it.

The provider is npm's `oidc-provider` (tests/support/oidc/provider.mjs) on a free loopback
port, installed with `npm ci` from the committed package-lock.json when its node_modules is
missing or older than the lock file (scripts/test installs it up front).
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit, urlunsplit

import httpx

from tests.support.server import free_port
from tests.support.services import service_missing

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
CLIENT_ID = "fastflow"
CLIENT_SECRET = "fastflow-test-secret"
CALLBACK = "/auth/oidc/callback"


def install() -> None:
    """`npm ci` the provider's packages unless they are installed from the current lock file."""
    marker = OIDC_DIR / "node_modules" / ".package-lock.json"
    lock = OIDC_DIR / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        service_missing("Node.js and npm (for the OpenID Connect provider)", "not installed")
        return
    subprocess.run(
        [npm, "ci", "--prefix", str(OIDC_DIR), "--no-audit", "--no-fund", "--loglevel=error"],
        check=True,
        timeout=600,
    )


class OidcProvider:
    """The provider as a process; accounts (claims per login) can change between sign-ins."""

    def __init__(self, folder: Path) -> None:
        install()
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.accounts_file = folder / "oidc-accounts.json"
        self.accounts_file.write_text("{}")
        self.log = folder / f"oidc-provider-{self.port}.log"
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "PORT": str(self.port),
            "CLIENT_ID": CLIENT_ID,
            "CLIENT_SECRET": CLIENT_SECRET,
            "ACCOUNTS_FILE": str(self.accounts_file),
        }
        node = shutil.which("node") or "node"
        self.proc = subprocess.Popen(
            [node, "provider.mjs"],
            cwd=OIDC_DIR,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration").is_success:
                    return
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"the OIDC provider did not start:\n{self.log.read_text()}")
            time.sleep(0.05)

    def set_account(self, login: str, **claims: Any) -> None:
        """The claims `login` gets from now on (default: login@example.com, no groups)."""
        accounts = json.loads(self.accounts_file.read_text())
        accounts[login] = claims
        self.accounts_file.write_text(json.dumps(accounts))

    def tamper(self, mode: str) -> None:
        """Spoil the next ID token: 'payload', 'alg-none' or 'foreign-key'."""
        httpx.post(f"{self.issuer}/__test/tamper", params={"mode": mode}).raise_for_status()

    def env(self, **extra: str) -> dict[str, str]:
        """fastflow settings pointing at this provider."""
        return {
            "FASTFLOW_OIDC_ISSUER": self.issuer,
            "FASTFLOW_OIDC_CLIENT_ID": CLIENT_ID,
            "FASTFLOW_OIDC_CLIENT_SECRET": CLIENT_SECRET,
            **extra,
        }

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@dataclass
class SsoBrowser:
    """httpx standing in for a browser at fastflow and the provider: one cookie jar, and
    redirects followed by hand so each hop can be looked at."""

    base: str
    http: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.http = httpx.Client(timeout=30, follow_redirects=False)

    def close(self) -> None:
        self.http.close()

    def start(self, next_path: str | None = "/") -> str:
        """Ask fastflow to start a sign-in; the provider URL it sends the browser to."""
        params = {} if next_path is None else {"next": next_path}
        r = self.http.get(f"{self.base}/auth/oidc/login", params=params)
        assert r.status_code == 303, (r.status_code, r.text)
        return r.headers["location"]

    def at_provider(self, url: str, login: str, password: str = "any-password") -> str:
        """Sign in and consent at the provider; the callback URL it sends the browser back to."""
        for _ in range(12):
            if url.startswith(self.base + CALLBACK):
                return url
            r = self.http.get(url)
            if r.status_code in (302, 303):
                url = urljoin(url, r.headers["location"])
                continue
            assert r.status_code == 200, (url, r.status_code, r.text[:2000])
            action, fields = _form(r.text)
            if "login" in fields:
                fields.update(login=login, password=password)
            posted = self.http.post(urljoin(url, action), data=fields)
            assert posted.status_code in (302, 303), (posted.status_code, posted.text[:2000])
            url = urljoin(url, posted.headers["location"])
        raise AssertionError(f"never sent back to fastflow; last at {url}")

    def callback(self, url: str) -> httpx.Response:
        return self.http.get(url)

    def sign_in(self, login: str, next_path: str | None = "/") -> httpx.Response:
        """The whole round trip; fastflow's answer to the callback."""
        return self.callback(self.at_provider(self.start(next_path), login))

    def me(self) -> httpx.Response:
        """Who fastflow says this browser is (its session cookie, as the console sends it)."""
        return self.http.get(f"{self.base}/api/auth/me")


def _form(page: str) -> tuple[str, dict[str, str]]:
    """The action and fields of the (one) form on a provider page."""
    match = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert match, page[:2000]
    fields = {
        name: value
        for name, value in re.findall(
            r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"', page
        )
    }
    if 'name="login"' in page:
        fields["login"] = ""
    return match.group(1), fields


def with_query(url: str, **changes: str) -> str:
    """`url` with some query parameters replaced."""
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))
