"""Login and logout (bearer token and UI session cookie), and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query, Request, Response

from fastflow.api.deps import (
    CurrentPrincipal,
    CurrentUser,
    ServicesDep,
    Viewer,
)
from fastflow.api.responses import errors
from fastflow.api.router import ApiRouter
from fastflow.api.schemas import (
    ApiTokenCreate,
    ApiTokenCreated,
    ApiTokenOut,
    LoginRequest,
    TokenResponse,
    UserOut,
)
from fastflow.auth.cookies import clear_session_cookies, set_session_cookies

router = ApiRouter(prefix="/api/auth", tags=["auth"])

TokenId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$", description="API token id")]


@router.post("/login", response_model=TokenResponse, responses=errors(401, 422, 429))
def login(
    body: LoginRequest, request: Request, response: Response, services: ServicesDep
) -> TokenResponse:
    """Exchange credentials for a bearer token; also sets the UI's session cookie."""
    address = request.client.host if request.client else None
    token, user = services.auth.login(body.username, body.password, address)
    claims = services.auth.tokens.verify(token)
    set_session_cookies(response, request, token, claims)
    return TokenResponse(
        access_token=token,
        expires_at=claims.expires_at,
        username=user.username,
        role=user.role,
        csrf_token=claims.csrf,
    )


@router.post("/logout", status_code=204, responses=errors(401, 403, 422))
def logout(principal: CurrentPrincipal, services: ServicesDep, response: Response) -> Response:
    """End this session at once: its token stops working and the cookies are cleared."""
    services.auth.logout(principal)
    response.status_code = 204
    clear_session_cookies(response)
    return response


@router.get("/me", response_model=UserOut, responses=errors(401, 422))
def who_am_i(user: CurrentUser) -> UserOut:
    """Who the token belongs to."""
    return UserOut(username=user.username, role=user.role)


@router.get("/tokens", response_model=list[ApiTokenOut], responses=errors(401, 403, 422))
def list_tokens(
    principal: CurrentPrincipal,
    services: ServicesDep,
    _: Viewer,
    all_users: Annotated[bool, Query(alias="all", description="every user's (admin)")] = False,
) -> list[ApiTokenOut]:
    """Your API tokens (never their values); `all=true` lists everyone's, for admins."""
    rows = services.auth.list_api_tokens(principal, all_users)
    return [ApiTokenOut.of(row, owner) for row, owner in rows]


@router.post(
    "/tokens", response_model=ApiTokenCreated, status_code=201, responses=errors(401, 403, 422)
)
def create_token(
    body: ApiTokenCreate, principal: CurrentPrincipal, services: ServicesDep, _: Viewer
) -> ApiTokenCreated:
    """A new API token for you, at most your role; its value is shown in this answer only."""
    raw, row = services.auth.create_api_token(principal, body.name, body.role, body.expires_days)
    return ApiTokenCreated(**ApiTokenOut.of(row, principal.user.username).model_dump(), token=raw)


@router.delete("/tokens/{token_id}", status_code=204, responses=errors(401, 403, 404, 422))
def revoke_token(
    token_id: TokenId, principal: CurrentPrincipal, services: ServicesDep, _: Viewer
) -> Response:
    """Revoke one of your API tokens (admins: anyone's); it stops working at once."""
    services.auth.revoke_api_token(principal, token_id)
    return Response(status_code=204)
