"""Login: username and password for a bearer token."""

from __future__ import annotations

from fastapi import APIRouter

from fastflow.api.deps import CurrentUser, ServicesDep
from fastflow.api.schemas import LoginRequest, TokenResponse, UserOut

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/login", response_model=TokenResponse)
def login(body: LoginRequest, services: ServicesDep) -> TokenResponse:
    """Exchange credentials for a bearer token (send it as `Authorization: Bearer ...`)."""
    token, user = services.auth.login(body.username, body.password)
    claims = services.auth.tokens.verify(token)
    return TokenResponse(
        access_token=token, expires_at=claims.expires_at, username=user.username, role=user.role
    )


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """Who the token belongs to."""
    return UserOut(username=user.username, role=user.role)
