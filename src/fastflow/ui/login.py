"""The login page: the only UI page reachable without a session.

A plain HTML form posted to `/login`: the answer sets the same session cookies as
`POST /api/auth/login` (through `AuthService.login`, with the same login throttle), so one
login opens both the console and the API. A native form also lets password managers work and
needs no script to log in.

With SSO configured a "Sign in with SSO" button (a plain GET form to `/auth/oidc/login`) comes
first. With FASTFLOW_LOCAL_LOGIN=false the password form is shown only at
`/login?break_glass=1`, for the break-glass admin.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from nicegui import app, ui
from starlette.requests import Request
from starlette.responses import RedirectResponse

from fastflow.auth.cookies import set_session_cookies
from fastflow.auth.redirects import safe_next
from fastflow.auth.service import LOCAL_LOGIN_OFF, LocalLoginDisabledError
from fastflow.auth.throttle import TooManyAttemptsError
from fastflow.errors import AuthError
from fastflow.ui import session
from fastflow.ui.layout import tid

# Failures are passed back to the page as a code, never as text: a link must not be able to
# make the login page say something of the sender's choosing.
ERRORS = {
    "invalid": "invalid username or password",
    "throttled": "too many failed logins; try again later",
    "origin": "the login form was sent from another site; open the login page and try again",
    "local-off": LOCAL_LOGIN_OFF,
}
SSO_START = "/auth/oidc/login"


def _same_origin(request: Request) -> bool:
    """A form from another site may not log the browser in (login CSRF)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        # Browsers say where a request comes from; `Origin` may be "null" here because the
        # server sends `Referrer-Policy: no-referrer`.
        return site == "same-origin"
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True  # non-browser clients (and old browsers) send neither
    return origin.split("://", 1)[-1] == request.headers.get("host", "")


def _back(target: str, error: str, username: str = "") -> RedirectResponse:
    # The username comes back filled in (not the password): only the password is retyped.
    query = f"next={quote(target, safe='')}&error={error}&username={quote(username[:150])}"
    if not session.services().auth.local_login:
        query += "&break_glass=1"
    return RedirectResponse(f"{session.LOGIN_PATH}?{query}", 303)


async def _login(request: Request) -> RedirectResponse:
    form = await request.form()
    target = safe_next(str(form.get("next") or "/"))
    if not _same_origin(request):
        return _back(target, "origin")
    auth = session.services().auth
    address = request.client.host if request.client else None
    username = str(form.get("username") or "")
    try:
        token, _ = await asyncio.to_thread(
            auth.login, username, str(form.get("password") or ""), address
        )
    except TooManyAttemptsError:
        return _back(target, "throttled", username)
    except LocalLoginDisabledError:
        return _back(target, "local-off", username)
    except AuthError:
        return _back(target, "invalid", username)
    response = RedirectResponse(target, 303)
    set_session_cookies(response, request, token, auth.tokens.verify(token))
    return response


def _hidden(name: str, value: str) -> None:
    field = ui.element("input")
    field.props.update({"type": "hidden", "name": name, "value": value})


def _sso_button(target: str, label: str) -> None:
    """A GET form, so the button works without the page's websocket."""
    with ui.element("form").classes("w-full") as form:
        form.props.update({"method": "get", "action": SSO_START})
        _hidden("next", target)
        ui.button(label).props("type=submit unelevated").classes("w-full").props(tid("sso"))


def _password_form(target: str, username: str, error: str | None) -> None:
    with ui.element("form").classes("w-full flex flex-col gap-3") as form:
        form.props.update({"method": "post", "action": session.LOGIN_PATH})
        _hidden("next", target)
        name = ui.input("Username", value=username[:150]).classes("w-full")
        name.props("outlined name=username autocomplete=username")
        name.props(tid("username") + ("" if username else " autofocus"))
        password = ui.input("Password", password=True, password_toggle_button=True)
        password.props("outlined name=password autocomplete=current-password")
        password.classes("w-full").props(tid("password"))
        if username:
            password.props("autofocus")
        if error in ERRORS:
            ui.label(ERRORS[error]).classes("text-negative text-sm").props(
                tid("login-error") + ' role="alert"'
            )
        ui.button("Log in").props("type=submit").classes("w-full").props(tid("login"))


def register() -> None:
    @ui.page(session.LOGIN_PATH)
    async def login_page(
        next: str | None = None,
        error: str | None = None,
        username: str = "",
        break_glass: str | None = None,
    ) -> Any:
        target = safe_next(next)
        request = ui.context.client.request
        if getattr(request.state, "fastflow_principal", None) is not None:
            return RedirectResponse(target, 303)
        services = session.services()
        local = services.auth.local_login or break_glass == "1"
        ui.page_title("Log in · fastflow")
        ui.colors(primary="#1e40af")
        ui.query("body").style("background: #f5f7fa")
        with ui.card().classes("absolute-center w-80 max-w-[92vw] p-6 rounded-[10px] gap-3"):
            ui.label("fastflow").classes("text-2xl font-bold text-primary")
            ui.label("Log in to the console").classes("text-grey-8 mb-2")
            if services.oidc is not None:
                _sso_button(target, services.settings.oidc_button_label)
                if local:
                    ui.label("or with a password").classes("text-grey-7 text-sm self-center")
            if local:
                _password_form(target, username, error)
            else:
                ui.label("Password login is turned off on this server.").classes(
                    "text-grey-8 text-sm"
                ).props(tid("local-off"))
                ui.link("Break-glass administrator", f"{session.LOGIN_PATH}?break_glass=1").classes(
                    "text-grey-7 text-xs self-center"
                )
        return None

    # After the page: NiceGUI's page decorator replaces every route of its path.
    app.add_api_route(
        session.LOGIN_PATH, _login, methods=["POST"], include_in_schema=False, response_model=None
    )
