"""User accounts (admin only): list, create, change role, disable."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from fastflow.api.deps import Admin, ServicesDep
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.api.schemas import UserCreate, UserDetail, UserUpdate

router = ApiRouter(prefix="/api/users", tags=["users"], responses=AUTHENTICATED)

Username = Annotated[str, Path(min_length=1, max_length=150)]


@router.get("", response_model=list[UserDetail])
def list_users(services: ServicesDep, _: Admin) -> list[UserDetail]:
    return [UserDetail.of(u) for u in services.auth.all_users()]


@router.post("", response_model=UserDetail, status_code=201, responses=errors(409))
def create_user(body: UserCreate, services: ServicesDep, _: Admin) -> UserDetail:
    return UserDetail.of(services.auth.create_user(body.username, body.password, body.role))


@router.patch("/{username}", response_model=UserDetail, responses=errors(404, 409))
def update_user(
    username: Username, body: UserUpdate, services: ServicesDep, admin: Admin
) -> UserDetail:
    """Change a user's role or disable them; takes effect on their next request."""
    user = services.auth.change_user(admin, username, role=body.role, disabled=body.disabled)
    return UserDetail.of(user)
