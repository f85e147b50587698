"""Users (admins only): create, change role, disable, reset password — the `/api/users`
calls, through the same auth service methods."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from fastflow.models import Role
from fastflow.records import User
from fastflow.ui import session
from fastflow.ui.actions import perform
from fastflow.ui.format import when
from fastflow.ui.layout import FormError, admins_only, frame, tid

ROLES = [r.value for r in Role]


def _create_form(reload: Any) -> None:
    with ui.card().classes("ff-card w-full").props(tid("user-create")):
        ui.label("New user").classes("text-lg font-bold")
        with ui.row().classes("w-full items-start gap-2"):
            name = ui.input("Username").props("outlined dense " + tid("user-name"))
            name.mark("user-name")
            password = ui.input("Password (8 or more characters)", password=True).props(
                "outlined dense " + tid("user-password")
            )
            password.mark("user-password")
            role = ui.select(ROLES, value=Role.VIEWER.value, label="Role").props(
                "outlined dense " + tid("user-role")
            )
            role.classes("w-36")
            error = FormError("user-error")

            async def create() -> None:
                error.hide()
                done = await perform(
                    Role.ADMIN,
                    lambda _: session.services().auth.create_user(
                        name.value or "", password.value or "", Role(role.value)
                    ),
                    lambda u: f"User {u.username} created ({u.role})",
                    on_error=error.show,
                )
                if done is not None:
                    name.set_value("")
                    password.set_value("")
                    await reload()

            ui.button("Create", icon="person_add", on_click=create).props(
                tid("user-create-button")
            ).mark("user-create-button")


def _password_dialog(username: str) -> None:
    with (
        ui.context.client.layout,
        ui.dialog() as dialog,
        ui.card().classes("w-[28rem] max-w-[95vw]"),
    ):
        ui.label(f"New password for {username}").classes("text-lg font-bold break-all")
        ui.label("Their sessions and API tokens stop working.").classes("text-sm text-grey-8")
        password = ui.input("New password", password=True).classes("w-full")
        password.props("outlined dense " + tid("reset-password")).mark("reset-password")
        error = FormError("reset-error")

        async def save() -> None:
            error.hide()
            done = await perform(
                Role.ADMIN,
                lambda _: session.services().auth.reset_password(username, password.value or ""),
                f"Password of {username} changed",
                on_error=error.show,
            )
            if done is not None:
                dialog.close()

        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            ui.button("Set password", on_click=save).props(tid("reset-save")).mark("reset-save")
    dialog.on("hide", dialog.delete)
    dialog.open()


def _user_row(row: User, me: User, reload: Any) -> None:
    with (
        ui.row().classes("w-full items-center gap-3 py-1 ff-row").props(tid(f"user-{row.username}"))
    ):
        with ui.column().classes("gap-0 min-w-[10rem] grow"):
            with ui.row().classes("items-center gap-2"):
                ui.label(row.username).classes("font-medium break-all")
                if row.disabled:
                    ui.badge("disabled", color="grey-7").classes("text-white")
                if row.is_sso:
                    ui.badge("SSO", color="teal-8").classes("text-white")
                if row.username == me.username:
                    ui.badge("you", color="primary").classes("text-white")
            ui.label(f"last login {when(row.last_login_at)}").classes("text-xs text-grey-7")
        role = ui.select(ROLES, value=row.role).props("outlined dense " + tid("user-role-select"))
        role.classes("w-32").mark(f"user-role-{row.username}")

        async def change_role() -> None:
            if role.value == row.role:
                return
            # Refused or not, the list is rebuilt from the database: it shows what is so.
            await perform(
                Role.ADMIN,
                lambda admin: session.services().auth.change_user(
                    admin, row.username, role=Role(role.value)
                ),
                lambda u: f"{u.username} is now {u.role}",
            )
            await reload()

        role.on_value_change(change_role)
        enabled = ui.switch("active", value=not row.disabled).props(tid("user-active"))
        enabled.mark(f"user-active-{row.username}")

        async def toggle() -> None:
            disabled = not enabled.value
            if disabled == row.disabled:
                return
            await perform(
                Role.ADMIN,
                lambda admin: session.services().auth.change_user(
                    admin, row.username, disabled=disabled
                ),
                f"{row.username} {'disabled' if disabled else 'enabled'}",
            )
            await reload()

        enabled.on_value_change(toggle)
        ui.button(
            "Password", icon="lock_reset", on_click=lambda: _password_dialog(row.username)
        ).props("flat dense " + tid("user-reset")).mark(f"user-reset-{row.username}")


def register() -> None:
    @ui.page("/admin/users")
    async def users_page() -> None:
        with frame("Users", [("Users", None)]) as me:
            if not admins_only(me):
                return
            auth = session.services().auth

            @ui.refreshable
            def body(rows: list[User]) -> None:
                for row in rows:
                    _user_row(row, me, reload)

            async def reload() -> None:
                body.refresh(await asyncio.to_thread(auth.all_users))

            ui.label("Users").classes("text-xl font-bold")
            _create_form(reload)
            with ui.card().classes("ff-card w-full").props(tid("users")):
                body(await asyncio.to_thread(auth.all_users))
