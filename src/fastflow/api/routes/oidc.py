"""SSO for browsers: `/auth/oidc/login` sends the person to the identity provider, which sends
them back to `/auth/oidc/callback`; from there they land where they were going with the same
session cookies a password login sets. Failures answer a small HTML page with the right 4xx
(502 when the provider cannot be reached) and a sentence saying what happened.

Browser pages, not API: outside `/api` and the OpenAPI schema, like the console's `/login`.
"""

from __future__ import annotations

import html
import logging

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fastflow.api.deps import ServicesDep
from fastflow.api.router import ApiRouter
from fastflow.auth.cookies import is_https, set_session_cookies
from fastflow.auth.oidc import COOKIE, COOKIE_PATH, LIFETIME_SECONDS
from fastflow.errors import FastflowError

log = logging.getLogger(__name__)

router = ApiRouter(prefix=COOKIE_PATH, include_in_schema=False)

LOGIN_PAGE = "/login"
_NOT_CONFIGURED = "single sign-on (OpenID Connect) is not configured on this server"
_PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · fastflow</title>
<style>
body {{ font-family: system-ui, sans-serif; background: #f5f7fa; color: #1f2937; margin: 0; }}
main {{ max-width: 34rem; margin: 12vh auto; background: #fff; border-radius: 10px;
       padding: 2rem; box-shadow: 0 1px 4px rgba(0,0,0,.12); }}
h1 {{ color: #1e40af; font-size: 1.4rem; margin-top: 0; }}
a {{ color: #1e40af; }}
</style></head>
<body><main>
<h1>{title}</h1>
<p role="alert" data-testid="sso-error">{sentence}</p>
<p><a href="{login}">Back to the login page</a></p>
</main></body></html>
"""
_TITLES = {403: "Sign-in refused", 409: "Sign-in refused", 502: "Identity provider unavailable"}


def _page(status: int, sentence: str) -> HTMLResponse:
    title = _TITLES.get(status, "Sign-in failed")
    body = _PAGE.format(
        title=html.escape(title, quote=False),
        sentence=html.escape(_as_sentence(sentence), quote=False),
        login=LOGIN_PAGE,
    )  # fmt: skip
    response = HTMLResponse(body, status_code=status)
    response.headers["Content-Security-Policy"] = _PAGE_CSP
    response.headers["Cache-Control"] = "no-store"
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response


def _as_sentence(text: str) -> str:
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


@router.get("/login", response_model=None)
async def sso_login(request: Request, services: ServicesDep, next: str | None = None) -> Response:
    """Start a sign-in at the identity provider; `next` is where to land afterwards."""
    if services.oidc is None:
        return _page(404, _NOT_CONFIGURED)
    try:
        start = await services.oidc.begin(next)
    except FastflowError as exc:
        return _page(exc.status_code, exc.message)
    response = RedirectResponse(start.url, 303)
    response.headers["Cache-Control"] = "no-store"
    response.set_cookie(
        COOKIE,
        start.cookie,
        max_age=LIFETIME_SECONDS,
        path=COOKIE_PATH,
        httponly=True,
        # Lax: sent on the provider's top-level redirect back to the callback.
        samesite="lax",
        secure=is_https(request),
    )
    return response


@router.get("/callback", response_model=None)
async def sso_callback(request: Request, services: ServicesDep) -> Response:
    """The identity provider's answer: check it, open the session, go where the person was going."""
    if services.oidc is None:
        return _page(404, _NOT_CONFIGURED)
    answer = {k: v[:4096] for k, v in request.query_params.items()}
    try:
        done = await services.oidc.finish(answer, request.cookies.get(COOKIE))
    except FastflowError as exc:
        log.info("SSO sign-in failed (%d): %s", exc.status_code, exc.message)
        return _page(exc.status_code, exc.message)
    response = RedirectResponse(done.next, 303)
    response.headers["Cache-Control"] = "no-store"
    set_session_cookies(response, request, done.token, services.auth.tokens.verify(done.token))
    response.delete_cookie(COOKIE, path=COOKIE_PATH)
    return response
