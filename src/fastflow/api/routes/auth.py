"""Login and logout (bearer token and UI session cookie), and API tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from fastflow.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CurrentPrincipal,
    CurrentUser,
    ServicesDep,
    Viewer,
)
from fastflow.api.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    LoginRequest,
    TokenResponse,
    UserOut,
)

router = APIRouter(prefix="/api/auth", tags=["auth"])

TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="API token id")]


def _secure(request: Request) -> bool:
    # Behind a trusted proxy uvicorn has already applied X-Forwarded-Proto to the scheme.
    return request.url.scheme == "https"


@router.post("/login", response_model=TokenResponse)
def login(
    body: LoginRequest, request: Request, response: Response, services: ServicesDep
) -> TokenResponse:
    """Exchange credentials for a bearer token; also sets the UI's session cookie."""
    address = request.client.host if request.client else None
    token, user = services.auth.login(body.username, body.password, address)
    claims = services.auth.tokens.verify(token)
    max_age = max(1, int((claims.expires_at - datetime.now(UTC)).total_seconds()))
    secure = _secure(request)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure
    )
    # Readable by the UI's scripts, which echo it in X-CSRF-Token; useless to other sites.
    response.set_cookie(
        CSRF_COOKIE, claims.csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure
    )
    return TokenResponse(
        access_token=token,
        expires_at=claims.expires_at,
        username=user.username,
        role=user.role,
        csrf_token=claims.csrf,
    )


@router.post("/logout", status_code=204)
def logout(principal: CurrentPrincipal, services: ServicesDep, response: Response) -> Response:
    """End this session at once: its token stops working and the cookies are cleared."""
    services.auth.logout(principal)
    response.status_code = 204
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    return response


@router.get("/me", response_model=UserOut)
def me(user: CurrentUser) -> UserOut:
    """Who the token belongs to."""
    return UserOut(username=user.username, role=user.role)


@router.get("/tokens", response_model=list[ApiTokenOut])
def list_tokens(
    principal: CurrentPrincipal,
    services: ServicesDep,
    _: Viewer,
    all_users: Annotated[bool, Query(alias="all", description="every user's (admin)")] = False,
) -> list[ApiTokenOut]:
    """Your API tokens (never their values); `all=true` lists everyone's, for admins."""
    rows = services.auth.list_api_tokens(principal, all_users)
    return [ApiTokenOut.of(row, owner) for row, owner in rows]


@router.post("/tokens", response_model=ApiTokenCreated, status_code=201)
def create_token(
    body: ApiTokenCreate, principal: CurrentPrincipal, services: ServicesDep, _: Viewer
) -> ApiTokenCreated:
    """A new API token for you, at most your role; its value is shown in this answer only."""
    raw, row = services.auth.create_api_token(principal, body.name, body.role, body.expires_days)
    return ApiTokenCreated(**ApiTokenOut.of(row, principal.user.username).model_dump(), token=raw)


@router.delete("/tokens/{token_id}", status_code=204)
def revoke_token(
    token_id: TokenId, principal: CurrentPrincipal, services: ServicesDep, _: Viewer
) -> Response:
    """Revoke one of your API tokens (admins: anyone's); it stops working at once."""
    services.auth.revoke_api_token(principal, token_id)
    return Response(status_code=204)
