"""API tokens: yours (admins: everyone's) with their last use; create one — its value shown
once, with a copy button — and revoke. The same auth service calls as `/api/auth/tokens`."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from fastflow.errors import FastflowError, InvalidInputError
from fastflow.models import Role
from fastflow.records import ApiToken
from fastflow.ui import session
from fastflow.ui.format import when
from fastflow.ui.layout import FormError, confirm, frame, tid, toast_error
from fastflow.ui.once import show_once

MAX_NAME = 100
MAX_DAYS = 3650


def _checked(name: str, days: float | None) -> tuple[str, int | None]:
    """The API's rules for a new token (ApiTokenCreate), with its words."""
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise InvalidInputError(f"name: give 1-{MAX_NAME} characters")
    if days is not None and (days != int(days) or not 1 <= days <= MAX_DAYS):
        raise InvalidInputError(f"expires_days: a whole number of days, 1-{MAX_DAYS}")
    return name, None if days is None else int(days)


async def _create(name: str, role: str, days: float | None) -> tuple[str, ApiToken]:
    """Make a token as the page's session, re-checked now (FastflowError: refused)."""
    clean, expires = _checked(name, days)
    principal = await session.acting_principal()
    return await asyncio.to_thread(
        session.services().auth.create_api_token, principal, clean, Role(role), expires
    )


async def _revoke(token_id: str, name: str) -> bool:
    """Revoke as the page's session: one's own token, or (admins) anyone's."""
    try:
        principal = await session.acting_principal()
        await asyncio.to_thread(session.services().auth.revoke_api_token, principal, token_id)
    except FastflowError as exc:
        toast_error(exc)
        return False
    ui.notify(f"Token {name} revoked", type="warning", position="top")
    return True


def _create_form(me_role: Role, reload: Any) -> None:
    with ui.card().classes("ff-card w-full").props(tid("token-create")):
        ui.label("New API token").classes("text-lg font-bold")
        ui.label(
            "For scripts and CI: send it as `Authorization: Bearer <token>`. It acts with the "
            "role you give it (at most yours)."
        ).classes("text-sm text-grey-8")
        with ui.row().classes("w-full items-start gap-2"):
            name = ui.input("Name, e.g. ci-deploy").props("outlined dense " + tid("token-name"))
            name.mark("token-name")
            roles = [r.value for r in Role if me_role.allows(r)]
            role = ui.select(roles, value=me_role.value, label="Role").classes("w-32")
            role.props("outlined dense " + tid("token-role"))
            days = ui.number("Expires in days (empty: never)", min=1, max=MAX_DAYS).classes("w-56")
            days.props("outlined dense " + tid("token-days"))
            error = FormError("token-error")

            async def create() -> None:
                error.hide()
                try:
                    made = await _create(name.value or "", str(role.value), days.value)
                except FastflowError as exc:
                    error.show(exc.message)
                    return
                raw, row = made
                name.set_value("")
                show_once(
                    f"API token {row.name}",
                    raw,
                    "Copy it now: fastflow keeps only its hash and cannot show it again.",
                )
                await reload()

            ui.button("Create", icon="add", on_click=create).props(tid("token-create-button")).mark(
                "token-create-button"
            )


def _token_row(row: ApiToken, owner: str, everyone: bool, reload: Any) -> None:
    with ui.row().classes("w-full items-center gap-3 py-1 ff-row").props(tid(f"token-{row.name}")):
        with ui.column().classes("gap-0 grow min-w-[12rem]"):
            with ui.row().classes("items-center gap-2"):
                ui.label(row.name).classes("font-medium break-all")
                ui.label(f"{row.prefix}…").classes("ff-mono text-xs text-grey-8")
                ui.badge(row.role, color="blue-grey-7").classes("text-white")
                if row.revoked_at:
                    ui.badge("revoked", color="grey-7").classes("text-white")
                if everyone:
                    ui.label(f"of {owner}").classes("text-sm text-grey-8")
            ui.label(
                f"created {when(row.created_at)} · last used {when(row.last_used_at)}"
                f" · expires {when(row.expires_at) if row.expires_at else 'never'}"
            ).classes("text-xs text-grey-7").props(tid("token-used"))
        if row.revoked_at is None:

            async def revoke() -> None:
                if await _revoke(row.id, row.name):
                    await reload()

            ui.button(
                "Revoke",
                icon="block",
                on_click=lambda: confirm(
                    f"Revoke the token {row.name}?",
                    "Scripts using it get 401 from now on. This cannot be undone.",
                    "Revoke",
                    revoke,
                    testid="token-revoke-confirm",
                ),
            ).props("flat dense color=negative " + tid("token-revoke")).mark("token-revoke")


def register() -> None:
    @ui.page("/tokens")
    async def tokens_page(everyone: bool = False) -> None:
        with frame("API tokens", [("API tokens", None)]) as me:
            auth = session.services().auth
            admin = session.is_admin(me)
            show_all = everyone and admin

            async def load() -> list[tuple[ApiToken, str]]:
                principal = await session.acting_principal()
                return await asyncio.to_thread(auth.list_api_tokens, principal, show_all)

            @ui.refreshable
            def body(rows: list[tuple[ApiToken, str]]) -> None:
                if not rows:
                    ui.label("No API tokens yet.").classes("text-grey-7 text-sm")
                for row, owner in rows:
                    _token_row(row, owner, show_all, reload)

            async def reload() -> None:
                try:
                    body.refresh(await load())
                except FastflowError as exc:
                    toast_error(exc)

            with ui.row().classes("items-center w-full"):
                ui.label("API tokens").classes("text-xl font-bold")
                ui.space()
                if admin:
                    ui.link(
                        "only mine" if show_all else "everyone's",
                        "/tokens" if show_all else "/tokens?everyone=true",
                    ).classes("text-sm text-primary")
            _create_form(Role(me.role), reload)
            with ui.card().classes("ff-card w-full").props(tid("tokens")):
                body(await load())
