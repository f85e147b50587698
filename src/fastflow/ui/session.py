"""The UI session: who is logged in, and the wall that keeps every page behind login.

The console uses the API's own session: the `fastflow_session` cookie (a JWT from
`AuthService`) that `POST /api/auth/login` sets, and that the console's login form sets the
same way. Each page load and each action re-checks it, so an expired token, a logout (its
`jti` on the deny-list) or a disabled account ends the console session just as it would
refuse an API call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import quote

from nicegui import context
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from fastflow.auth.cookies import SESSION_COOKIE, clear_session_cookies
from fastflow.auth.service import Principal
from fastflow.errors import AuthError, ForbiddenError
from fastflow.models import Role
from fastflow.records import User
from fastflow.services import Services

LOGIN_PATH = "/login"
# NiceGUI's own static assets and its websocket: public, they carry no data. The websocket
# only reaches clients (pages) created by an authenticated page load.
_PUBLIC_PREFIXES = ("/_nicegui",)
# Paths the parent app serves; reaching the UI app with them means "no such route".
_API_PREFIXES = ("/api/", "/ws/", "/build/")


@dataclass
class _Holder:
    services: Services | None = None


_holder = _Holder()


def bind(services: Services) -> None:
    """Give the pages the server's services (NiceGUI is one per process, so is this)."""
    _holder.services = services


def services() -> Services:
    """The services of the server the UI is mounted on."""
    if _holder.services is None:
        raise RuntimeError("the UI is not mounted")
    return _holder.services


def as_user(principal: Principal) -> User:
    """The principal's user carrying the role it acts with (an API token's may be lower)."""
    if principal.role.value == principal.user.role:
        return principal.user
    return principal.user.model_copy(update={"role": principal.role.value})


async def principal_of(connection: HTTPConnection | None) -> Principal | None:
    """Who the session cookie of a request belongs to, or None (none, expired, revoked...)."""
    cookie = connection.cookies.get(SESSION_COOKIE) if connection is not None else None
    if not cookie:
        return None
    try:
        # The check reads the users and deny-list tables: off the event loop.
        return await asyncio.to_thread(services().auth.principal, cookie)
    except AuthError:
        return None


def current_user() -> User:
    """The user the login wall admitted for this page load."""
    request = context.client.request
    user: User | None = getattr(request.state, "fastflow_user", None) if request else None
    if user is None:
        raise AuthError("not logged in")
    return user


async def acting_principal() -> Principal:
    """The session behind an action (a click may come long after the page load): re-checked."""
    principal = await principal_of(context.client.request)
    if principal is None:
        raise AuthError("your session has ended; log in again")
    return principal


async def acting_user(needs: Role = Role.OPERATOR) -> User:
    """The user of an action, with at least the role `needs` (else ForbiddenError)."""
    user = as_user(await acting_principal())
    if not Role(user.role).allows(needs):
        raise ForbiddenError(f"this needs the {needs.value} role; you are {user.role}")
    return user


async def logout() -> None:
    """End the page's session for good: its token id goes on the API's deny-list."""
    principal = await principal_of(context.client.request)
    if principal is not None and principal.kind == "session":
        await asyncio.to_thread(services().auth.logout, principal)


def can_operate(user: User) -> bool:
    """Operators and admins may start, cancel and retry runs (the API's rule)."""
    return Role(user.role).allows(Role.OPERATOR)


def is_admin(user: User) -> bool:
    """Only admins manage secrets (the API's rule)."""
    return Role(user.role) is Role.ADMIN


class LoginWall(BaseHTTPMiddleware):
    """Every UI request without a valid session goes to the login page.

    A middleware rather than a check in each page, so a page added later cannot forget it.
    A session cookie that no longer works (expired, logged out, forged) is cleared.
    """

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if path.startswith(_API_PREFIXES):
            # An unknown API path fell through to the UI mount: answer like the API would.
            return JSONResponse({"detail": f"not found: {path}"}, status_code=404)
        if path.startswith(_PUBLIC_PREFIXES):
            return await call_next(request)
        principal = await principal_of(request)
        stale = principal is None and SESSION_COOKIE in request.cookies
        if path == LOGIN_PATH:
            request.state.fastflow_principal = principal
            response = await call_next(request)
        elif principal is None:
            target = path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", 303)
        else:
            request.state.fastflow_principal = principal
            request.state.fastflow_user = as_user(principal)
            response = await call_next(request)
        if stale and request.method == "GET":
            # Not on the login form's POST: its answer sets the new session's cookies.
            clear_session_cookies(response)
        return response
