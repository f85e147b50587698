"""Dependencies with `Annotated` aliases, so route signatures say what they need."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fastflow.errors import AuthError, ForbiddenError
from fastflow.models import Role
from fastflow.services import Services
from fastflow.storage.tables import User

_bearer = HTTPBearer(auto_error=False, description="A token from POST /api/auth/login")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def current_user(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    token: Annotated[
        str | None, Query(description="Token for clients that cannot send headers")
    ] = None,
) -> User:
    """The user behind the bearer token (header, or `?token=` for EventSource clients)."""
    raw = credentials.credentials if credentials else token
    if not raw:
        raise AuthError("not authenticated: send 'Authorization: Bearer <token>'")
    return services.auth.authenticate(raw)


CurrentUser = Annotated[User, Depends(current_user)]


def require(role: Role):  # type: ignore[no-untyped-def]
    """A dependency that admits users with at least `role`."""

    def check(user: CurrentUser) -> User:
        if not Role(user.role).allows(role):
            raise ForbiddenError(f"this needs the {role.value} role; you are {user.role}")
        return user

    return check


Viewer = Annotated[User, Depends(require(Role.VIEWER))]
Operator = Annotated[User, Depends(require(Role.OPERATOR))]
Admin = Annotated[User, Depends(require(Role.ADMIN))]
