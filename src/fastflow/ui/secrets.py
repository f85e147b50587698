"""Secrets and stored parameters: keys, kind and times; values of secrets are
never sent to the browser — not to admins either, not in the page, not over the websocket.

Only admins create, change and delete (the API's rule); everyone else sees the list. Input is
checked by the API's own request models, then the same `SecretService` calls are made.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nicegui import ui
from pydantic import BaseModel, ValidationError

from fastflow.errors import ConflictError, InvalidInputError, describe_validation
from fastflow.models import Role
from fastflow.secrets.requests import SecretCreate, SecretUpdate
from fastflow.secrets.service import check_key
from fastflow.ui import session
from fastflow.ui.actions import delete_button, perform
from fastflow.ui.format import when
from fastflow.ui.layout import FormError, frame, tid


@dataclass(frozen=True)
class Listed:
    """What the page may know of an entry: a secret's value is not part of it."""

    key: str
    is_secret: bool
    value: str | None  # plain parameters only: the API shows those to every role
    created_at: datetime
    updated_at: datetime


def listing() -> list[Listed]:
    """Every entry, with plain parameters' values and without secrets' values."""
    return [
        Listed(
            e.key,
            e.is_secret,
            None if e.is_secret else e.value,
            e.row.created_at,
            e.row.updated_at,
        )
        for e in session.services().secrets.entries()
    ]


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(describe_validation(exc.errors())) from None


def _save(key: str | None, form: dict[str, Any]) -> str:
    """Create (key None) or change an entry; returns its key. Nothing is returned of a value."""
    secrets = session.services().secrets
    if key is None:
        check_key(form["key"])  # its message says what a key may be; the pattern's does not
        body = _validated(SecretCreate, form)
        try:
            secrets.create(body.key, body.value, body.is_secret)
        except ConflictError:
            raise ConflictError(
                f"{body.key!r} already exists; use Change on its row to give it a new value"
            ) from None
        return str(body.key)
    # An empty value field means "keep the value" (e.g. only turning a parameter secret).
    changes = {"value": form["value"] or None, "is_secret": form["is_secret"]}
    update = _validated(SecretUpdate, changes)
    secrets.update(key, update.value, update.is_secret)
    return key


def _open_form(entry: Listed | None, after: Any) -> None:
    """Create (entry None) or change dialog. The value field starts empty and is emptied
    again after saving; the server never fills it."""
    with (
        ui.context.client.layout,
        ui.dialog() as dialog,
        ui.card().classes("w-[28rem] max-w-[95vw]"),
    ):
        ui.label("New secret or parameter" if entry is None else f"Change {entry.key}").classes(
            "text-lg font-bold break-all"
        )
        key = ui.input("Key (environment variable name)", value=entry.key if entry else "")
        key.classes("w-full").props("outlined dense " + tid("secret-key"))
        key.set_enabled(entry is None)
        value = (
            ui.input(
                "Value" if entry is None else "New value (empty: keep the current one)",
                password=True,
                password_toggle_button=True,
            )
            .classes("w-full")
            .props("outlined dense autocomplete=off " + tid("secret-value"))
        )
        is_secret = ui.checkbox(
            "secret (hidden, masked in logs); off: a plain parameter shown to everyone",
            value=entry.is_secret if entry else True,
        ).props(tid("secret-is-secret"))
        error = FormError("secret-error")
        failed = error.show

        async def save() -> None:
            button.props("loading")
            error.hide()
            form = {
                "key": (key.value or "").strip(),
                "value": value.value or "",
                "is_secret": bool(is_secret.value),
            }
            done = await perform(
                Role.ADMIN,
                lambda _: _save(entry.key if entry else None, form),
                lambda k: f"{k} saved",
                on_error=failed,
            )
            button.props(remove="loading")
            if done is not None:
                value.set_value("")
                dialog.close()
                await after()
                dialog.delete()  # as on the browser's "hide"; a closed form must not linger

        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            button = ui.button("Save", icon="save", on_click=save).props(tid("secret-save"))
    dialog.on("hide", dialog.delete)
    dialog.open()


def _entry_row(entry: Listed, admin: bool, reload: Any) -> None:
    with (
        ui.card().classes("ff-card w-full").props(tid(f"secret-{entry.key}")),
        ui.row().classes("w-full items-center gap-x-4 gap-y-1"),
    ):
        ui.label(entry.key).classes("ff-mono font-bold break-all")
        if entry.is_secret:
            ui.badge("secret", color="blue-grey-8").classes("text-white")
            ui.label("•••••••• (hidden)").classes("text-grey-7 text-sm")
        else:
            ui.badge("parameter", color="teal-8").classes("text-white")
            ui.label(entry.value or "").classes("ff-mono text-sm break-all")
        ui.space()
        ui.label(f"updated {when(entry.updated_at)}").classes("text-xs text-grey-7")
        change = ui.button("Change", icon="edit", on_click=lambda: _open_form(entry, reload)).props(
            "flat dense " + tid("secret-change")
        )
        change.set_enabled(admin)

        delete_button(
            Role.ADMIN,
            lambda _: session.services().secrets.delete(entry.key),
            f"Delete {entry.key}?",
            "Runs started from now on no longer receive it. This cannot be undone.",
            f"{entry.key} deleted",
            reload,
            "secret-delete",
            admin,
        )


def register() -> None:
    @ui.page("/secrets")
    async def secrets_page() -> None:
        with frame("Secrets", [("Secrets", None)]) as user:
            admin = session.is_admin(user)

            @ui.refreshable
            def body(entries: list[Listed]) -> None:
                if not entries:
                    ui.label("No secrets or parameters stored.").classes("text-grey-7")
                for entry in entries:
                    _entry_row(entry, admin, reload)

            async def reload() -> None:
                body.refresh(await asyncio.to_thread(listing))

            with ui.row().classes("items-center w-full"):
                ui.label("Secrets and parameters").classes("text-xl font-bold")
                ui.space()
                new = ui.button("New", icon="add", on_click=lambda: _open_form(None, reload)).props(
                    tid("secret-new")
                )
                new.set_enabled(admin)
                new.mark("secret-new")
            ui.label(
                "Every run receives these as environment variables (pipeline.json `secrets` "
                "narrows the secrets a pipeline gets). Secret values are encrypted at rest and "
                "never shown here." + ("" if admin else " Only admins can change them.")
            ).classes("text-sm text-grey-8")
            with ui.column().classes("w-full gap-2").props(tid("secrets")):
                body(await asyncio.to_thread(listing))
