"""The session cookies one login sets for the API and the web console alike.

`POST /api/auth/login` and the console's login form both call `set_session_cookies`, so a
session begun in either place is the same session in the other.
"""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from fastflow.auth.tokens import TokenClaims

SESSION_COOKIE = "fastflow_session"
CSRF_COOKIE = "fastflow_csrf"


def is_https(request: Request) -> bool:
    """Whether the browser reached us over HTTPS (cookies then get `Secure`)."""
    # Behind a trusted proxy uvicorn has already applied X-Forwarded-Proto to the scheme.
    return request.url.scheme == "https"


def set_session_cookies(
    response: Response, request: Request, token: str, claims: TokenClaims
) -> None:
    """The HttpOnly session cookie, and the CSRF cookie the page's scripts may read."""
    max_age = max(1, int((claims.expires_at - datetime.now(UTC)).total_seconds()))
    secure = is_https(request)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=max_age, httponly=True, samesite="lax", secure=secure
    )
    # Readable by scripts, which echo it in X-CSRF-Token; useless to other sites.
    response.set_cookie(
        CSRF_COOKIE, claims.csrf, max_age=max_age, httponly=False, samesite="lax", secure=secure
    )


def clear_session_cookies(response: Response) -> None:
    """Make the browser forget the session (after logout, or when it no longer works)."""
    response.delete_cookie(SESSION_COOKIE)
    response.delete_cookie(CSRF_COOKIE)
