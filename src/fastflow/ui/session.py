"""The UI session: who is logged in, and the wall that keeps every page behind login.

The UI logs in through the same `AuthService` as the API and keeps the issued bearer token in
NiceGUI's server-side user storage (`app.storage.user`, keyed by a signed session cookie). Each
page load re-checks the token, so an expired token or a disabled account logs the user out just
as it would refuse an API call.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import quote

from nicegui import app, context
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from fastflow.errors import AuthError, ForbiddenError
from fastflow.models import Role
from fastflow.services import Services
from fastflow.storage.tables import User

LOGIN_PATH = "/login"
# NiceGUI's own static assets and its websocket: public, they carry no data. The websocket
# only reaches clients (pages) created by an authenticated page load.
_PUBLIC_PREFIXES = ("/_nicegui",)
# Paths the parent app serves; reaching the UI app with them means "no such route".
_API_PREFIXES = ("/api/", "/ws/")


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


def remember(token: str, user: User) -> None:
    """Keep a token from `AuthService.login` in this browser's server-side session."""
    app.storage.user.update({"token": token, "username": user.username, "role": user.role})


def logout() -> None:
    app.storage.user.clear()


async def session_user() -> User | None:
    """The user behind the current session's token, or None (none, expired, disabled)."""
    token = app.storage.user.get("token")
    if not token:
        return None
    try:
        # The token check reads the users table: off the event loop that also captures runs.
        return await asyncio.to_thread(services().auth.authenticate, str(token))
    except AuthError:
        app.storage.user.clear()
        return None


def current_user() -> User:
    """The user the login wall admitted for this page load."""
    request = context.client.request
    user: User | None = getattr(request.state, "fastflow_user", None) if request else None
    if user is None:
        raise AuthError("not logged in")
    return user


async def acting_user(needs: Role = Role.OPERATOR) -> User:
    """The user of an action (a click may come long after the page load): checked again."""
    user = await session_user()
    if user is None:
        raise AuthError("your session has ended; log in again")
    if not Role(user.role).allows(needs):
        raise ForbiddenError(f"this needs the {needs.value} role; you are {user.role}")
    return user


def can_operate(user: User) -> bool:
    """Operators and admins may start, cancel and retry runs (the API's rule)."""
    return Role(user.role).allows(Role.OPERATOR)


class LoginWall(BaseHTTPMiddleware):
    """Every UI request without a valid session goes to the login page.

    A middleware rather than a check in each page, so a page added later cannot forget it.
    """

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        path = request.url.path
        if path.startswith(_API_PREFIXES):
            # An unknown API path fell through to the UI mount: answer like the API would.
            return JSONResponse({"detail": f"not found: {path}"}, status_code=404)
        if path == LOGIN_PATH or path.startswith(_PUBLIC_PREFIXES):
            return await call_next(request)
        user = await session_user()
        if user is None:
            target = path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}", 303)
        request.state.fastflow_user = user
        return await call_next(request)
