"""The login page: the only UI page reachable without a session."""

from __future__ import annotations

import asyncio
from urllib.parse import urlsplit

from nicegui import ui
from starlette.responses import RedirectResponse

from fastflow.errors import AuthError
from fastflow.ui import session
from fastflow.ui.layout import tid


def _safe_next(target: str | None) -> str:
    """Only a local path may follow login (no open redirect to another site)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def register() -> None:
    @ui.page(session.LOGIN_PATH)
    async def login_page(next: str | None = None) -> RedirectResponse | None:
        target = _safe_next(next)
        if await session.session_user() is not None:
            return RedirectResponse(target, 303)
        ui.page_title("Log in · fastflow")
        ui.query("body").style("background: #f5f7fa")

        async def submit() -> None:
            button.props("loading")
            try:
                token, user = await asyncio.to_thread(
                    session.services().auth.login, username.value or "", password.value or ""
                )
            except AuthError as exc:
                error.set_text(exc.message)
                error.set_visibility(True)
                password.set_value("")
                return
            finally:
                button.props(remove="loading")
            session.remember(token, user)
            ui.navigate.to(target)

        with ui.card().classes("absolute-center w-80 max-w-[92vw] p-6 ff-card"):
            ui.label("fastflow").classes("text-2xl font-bold text-primary")
            ui.label("Log in to the console").classes("text-grey-8 mb-2")
            username = ui.input("Username").props("outlined autofocus").classes("w-full")
            username.props(tid("username"))
            password = ui.input("Password", password=True, password_toggle_button=True)
            password.props("outlined").classes("w-full").props(tid("password"))
            password.on("keydown.enter", submit)
            error = ui.label().classes("text-negative text-sm").props(tid("login-error"))
            error.set_visibility(False)
            button = ui.button("Log in", on_click=submit).classes("w-full").props(tid("login"))
        return None
