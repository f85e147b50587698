"""Dependencies with `Annotated` aliases, so route signatures say what they need.

A request authenticates with, in this order: `Authorization: Bearer <JWT or API token>`,
`?token=` (for EventSource clients, which cannot send headers), or the session cookie set by
login (for the UI). Cookie-authenticated writes must echo the session's CSRF token in the
`X-CSRF-Token` header: a cross-site form can make the browser send the cookie, never the header.
"""

from __future__ import annotations

import asyncio
import hmac
from typing import Annotated

from fastapi import Depends, Query, Request, WebSocket
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from fastflow.auth.cookies import CSRF_COOKIE, SESSION_COOKIE
from fastflow.auth.service import Principal
from fastflow.errors import AuthError, FastflowError, ForbiddenError
from fastflow.models import Role
from fastflow.records import User
from fastflow.services import Services

CSRF_HEADER = "X-CSRF-Token"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = HTTPBearer(
    auto_error=False, description="A token from POST /api/auth/login, or an API token (ff_...)"
)


# The dependencies are `async`: FastAPI runs a plain `def` dependency in its thread pool, and
# a hop there and back costs more than the work (and waits for the GIL while the event loop
# is busy). What touches the database goes there explicitly, once.


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None, Query(description="Token for clients that cannot send headers")
    ] = None,
) -> Principal:
    """Who the request acts as; 401 without valid credentials, 403 on a failed CSRF check.

    The credentials are checked against the database (revoked, disabled, role changed) in
    one trip to the thread pool; a request without any is refused without one."""
    services: Services = request.app.state.services
    raw = credentials.credentials if credentials else token
    if raw:
        principal = await run_in_threadpool(services.auth.principal, raw)
    else:
        cookie = request.cookies.get(SESSION_COOKIE)
        if not cookie:
            raise AuthError("not authenticated: send 'Authorization: Bearer <token>'")
        principal = await run_in_threadpool(services.auth.principal, cookie)
        if request.method not in _SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER, "")
            if not principal.csrf or not hmac.compare_digest(sent, principal.csrf):
                raise ForbiddenError(
                    f"missing or wrong CSRF token: send the {CSRF_HEADER} header with the "
                    f"value of the {CSRF_COOKIE} cookie"
                )
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def _as_user(principal: Principal) -> User:
    """The principal's user carrying the role it acts with (an API token's may be lower)."""
    if principal.role.value == principal.user.role:
        return principal.user
    return principal.user.model_copy(update={"role": principal.role.value})


async def current_user(principal: CurrentPrincipal) -> User:
    """The user behind the request's credentials."""
    return _as_user(principal)


CurrentUser = Annotated[User, Depends(current_user)]


def require(role: Role):  # type: ignore[no-untyped-def]
    """A dependency that admits users with at least `role`."""

    # On the principal directly, not through `current_user`: each level of dependencies
    # costs FastAPI a round of solving on every request.
    async def check(principal: CurrentPrincipal) -> User:
        user = _as_user(principal)
        if not Role(user.role).allows(role):
            raise ForbiddenError(f"this needs the {role.value} role; you are {user.role}")
        return user

    return check


Viewer = Annotated[User, Depends(require(Role.VIEWER))]
Operator = Annotated[User, Depends(require(Role.OPERATOR))]
Admin = Annotated[User, Depends(require(Role.ADMIN))]


def websocket_user(websocket: WebSocket, role: Role = Role.VIEWER) -> User:
    """Authenticate a WebSocket before `accept()`; raises AuthError/ForbiddenError.

    Token from `?token=`, the Authorization header, or the session cookie. Browsers send
    cookies on cross-site WebSocket handshakes too, so a cookie only counts when the Origin
    is this server's own (cross-site WebSocket hijacking).
    """
    services: Services = websocket.app.state.services
    auth = websocket.headers.get("authorization", "")
    raw = websocket.query_params.get("token") or (
        auth[7:] if auth.lower().startswith("bearer ") else ""
    )
    if not raw:
        raw = websocket.cookies.get(SESSION_COOKIE, "")
        origin = websocket.headers.get("origin")
        host = websocket.headers.get("host", "")
        if raw and origin is not None and origin.split("://", 1)[-1] != host:
            raise ForbiddenError("cross-origin WebSocket with a session cookie refused")
    if not raw:
        raise AuthError("not authenticated: send a token")
    user = _as_user(services.auth.principal(raw))
    if not Role(user.role).allows(role):
        raise ForbiddenError(f"this needs the {role.value} role; you are {user.role}")
    return user


async def accept_authenticated(websocket: WebSocket, role: Role = Role.VIEWER) -> User | None:
    """Accept the WebSocket for a user with `role`, or close it (4401/4403) and return None."""
    try:
        user = await asyncio.to_thread(websocket_user, websocket, role)
    except FastflowError as exc:
        await websocket.accept()
        await websocket.close(code=4000 + exc.status_code, reason=exc.message[:120])
        return None
    await websocket.accept()
    return user
