"""The expected role of every route, derived from the OpenAPI schema plus explicit rules.

Any route in the schema is covered automatically: by default a GET needs `viewer` and any
other method `operator`; routes that need more (or are public) are listed here. WebSocket
routes do not appear in OpenAPI: register them with `register_websocket_route`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import httpx

from tests.support.server import ADMIN_PASSWORD, ADMIN_USER

PUBLIC = "public"
ROLES = ("viewer", "operator", "admin")

# Routes that are reachable without a token, each with the reason (also in docs/security.md).
PUBLIC_ROUTES = {
    ("GET", "/health"): "liveness probe for load balancers",
    ("POST", "/api/auth/login"): "how a token is obtained",
    ("POST", "/api/hooks/{pipeline}"): "webhook callers prove a per-hook token or signature",
    ("POST", "/api/sync/hook"): "webhook callers prove a per-hook token or signature",
    ("GET", "/static/fastflow-client.js"): "a JS library, the same for everyone; "
    "the streams it opens need a token",
}

# Routes for `fastflow worker` only: the worker token, never a user's (tests/distributed
# checks that user tokens get 401 there and that a worker reaches only the runs it claimed).
WORKER_ONLY = {
    ("GET", "/api/bundles/{sha}"),
    ("GET", "/api/worker/runs/{run_id}/secrets"),
    ("PUT", "/api/worker/runs/{run_id}/artifacts/{path}"),
}

# Exceptions to the default (GET → viewer, others → operator).
ROLE_OVERRIDES: dict[tuple[str, str], str] = {
    ("POST", "/api/auth/logout"): "viewer",
    ("POST", "/api/auth/tokens"): "viewer",  # own tokens, at most one's own role
    ("DELETE", "/api/auth/tokens/{token_id}"): "viewer",  # own tokens (admins: anyone's)
    ("POST", "/api/secrets"): "admin",
    ("PUT", "/api/secrets/{key}"): "admin",
    ("DELETE", "/api/secrets/{key}"): "admin",
    ("GET", "/api/sync/settings"): "admin",
    ("PUT", "/api/sync/settings"): "admin",
    ("GET", "/api/users"): "admin",
    ("POST", "/api/users"): "admin",
    ("PATCH", "/api/users/{username}"): "admin",
    # Hook tokens and webhook targets are credentials and outbound reach: admins only.
    ("GET", "/api/webhooks/inbound"): "admin",
    ("POST", "/api/webhooks/inbound"): "admin",
    ("DELETE", "/api/webhooks/inbound/{hook_id}"): "admin",
    ("GET", "/api/webhooks/outbound"): "admin",
    ("POST", "/api/webhooks/outbound"): "admin",
    ("DELETE", "/api/webhooks/outbound/{webhook_id}"): "admin",
    ("GET", "/api/webhooks/outbound/{webhook_id}/deliveries"): "admin",
    ("POST", "/api/webhooks/outbound/{webhook_id}/test"): "admin",
    # The server's own log records: they name users, pipelines and addresses.
    ("GET", "/api/logs/stream"): "admin",
}

WEBSOCKET_ROUTES: dict[str, str] = {}


def register_websocket_route(path: str, role: str = "viewer") -> None:
    """Add a WebSocket route (e.g. "/api/runs/{run_id}/ws") to the auth table."""
    WEBSOCKET_ROUTES[path] = role


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    needs: str  # "public" or a role

    def concrete(self, value: str = "hello") -> str:
        return re.sub(r"\{[^}]+\}", value, self.path)


def expected_role(method: str, path: str) -> str:
    if (method, path) in PUBLIC_ROUTES:
        return PUBLIC
    if (method, path) in ROLE_OVERRIDES:
        return ROLE_OVERRIDES[(method, path)]
    return "viewer" if method in ("GET", "HEAD") else "operator"


def routes_of(base_url: str) -> list[Route]:
    """Every route of the server's schema (which only a signed-in user may read)."""
    login = httpx.post(
        f"{base_url}/api/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    schema = httpx.get(f"{base_url}/openapi.json", headers=headers).json()
    return [
        Route(method.upper(), path, expected_role(method.upper(), path))
        for path, ops in schema["paths"].items()
        for method in ops
    ]


def allows(role: str, needs: str) -> bool:
    return needs == PUBLIC or ROLES.index(role) >= ROLES.index(needs)
