"""Webhooks (admins only): outbound URLs with their delivery history and "Send test";
inbound hook tokens for a pipeline or for git sync. The `/api/webhooks` calls, through the
same services; secrets and tokens are shown once, when made."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

from nicegui import ui

from fastflow.errors import InvalidInputError
from fastflow.models import Role
from fastflow.pipelines.discovery import check_name
from fastflow.records import InboundHook, OutboundWebhook, WebhookDelivery
from fastflow.ui import session
from fastflow.ui.actions import delete_button, perform
from fastflow.ui.format import when
from fastflow.ui.layout import FormError, admins_only, frame, tid
from fastflow.ui.once import show_once
from fastflow.webhooks.inbound import SYNC_TARGET, pipeline_target

_DELIVERY_COLORS = {"delivered": "green-8", "pending": "blue-7", "failed": "red-8"}
_EVERY_RUN = "(every pipeline)"
_SYNC = "(git sync push hook)"


def _check_url(url: str) -> str:
    """The API's rules for an outbound URL (OutboundIn), with its words."""
    url = url.strip()
    if not url or len(url) > 2000:
        raise InvalidInputError("url: give an http:// or https:// URL")
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        raise InvalidInputError("url: must not contain spaces or control characters")
    parts = urlsplit(url)
    try:
        _ = parts.port
    except ValueError as exc:
        raise InvalidInputError(f"url: is not a usable URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("url: must be an http:// or https:// URL")
    return url


def inbound_url(hook: InboundHook) -> str:
    if hook.target == SYNC_TARGET:
        return "/api/sync/hook"
    return "/api/hooks/" + hook.target.removeprefix("pipeline:")


def _deliveries(rows: list[WebhookDelivery]) -> None:
    if not rows:
        ui.label("No deliveries yet.").classes("text-sm text-grey-7")
    for d in rows:
        with ui.row().classes("items-center gap-2 text-sm w-full").props(tid("delivery")):
            color = _DELIVERY_COLORS.get(d.status, "grey-7")
            ui.badge(d.status, color=color).classes("text-white")
            ui.label(d.event).classes("ff-mono")
            ui.label(when(d.created_at)).classes("text-grey-8")
            ui.label(f"{d.attempts} attempt(s)")
            if d.last_status_code is not None:
                ui.label(f"HTTP {d.last_status_code}")
            if d.run_id:
                ui.link(d.run_id[:8], f"/runs/{d.run_id}").classes("ff-mono")
            if d.last_error:
                ui.label(d.last_error).classes("text-negative text-xs break-all")


def _outbound_card(hook: OutboundWebhook, reload: Any) -> None:
    outbound = session.services().outbound
    with ui.card().classes("ff-card w-full").props(tid("outbound")):
        with ui.row().classes("w-full items-center gap-2"):
            ui.label(hook.url).classes("ff-mono text-sm break-all font-medium grow")
            ui.label(hook.pipeline_name or "every pipeline").classes("text-sm text-grey-8")

        @ui.refreshable
        def history(rows: list[WebhookDelivery]) -> None:
            _deliveries(rows)

        async def load() -> None:
            history.refresh(await asyncio.to_thread(outbound.deliveries, hook.id))

        async def send_test() -> None:
            done = await perform(
                Role.ADMIN,
                lambda user: outbound.send_test(hook.id, user.username),
                "Test notification queued; it shows below when sent",
            )
            if done is not None:
                await load()
                ui.timer(1.5, load, once=True)

        with ui.row().classes("gap-2"):
            ui.button("Send test", icon="send", on_click=send_test).props(
                "flat dense " + tid("outbound-test")
            ).mark("outbound-test")
            ui.button("Refresh", icon="refresh", on_click=load).props("flat dense")
            delete_button(
                Role.ADMIN,
                lambda _: outbound.delete(hook.id),
                "Delete this webhook?",
                f"{hook.url} is no longer notified; its delivery history goes too.",
                "Webhook deleted",
                reload,
                "outbound-delete",
                True,
            )
        with (
            ui.expansion("Delivery history", icon="history")
            .classes("w-full")
            .props(tid("outbound-history"))
        ):
            history(outbound.deliveries(hook.id))


def _outbound_form(names: list[str], reload: Any) -> None:
    with ui.row().classes("w-full items-start gap-2").props(tid("outbound-create")):
        url = ui.input("URL to notify when a run finishes").classes("grow min-w-[16rem]")
        url.props("outlined dense " + tid("outbound-url")).mark("outbound-url")
        which = ui.select([_EVERY_RUN, *names], value=_EVERY_RUN, label="Runs of").classes("w-56")
        which.props("outlined dense " + tid("outbound-pipeline"))
        error = FormError("outbound-error")

        def create() -> tuple[OutboundWebhook, str]:
            target = None if which.value == _EVERY_RUN else check_name(str(which.value))
            return session.services().outbound.create(_check_url(url.value or ""), target)

        async def go() -> None:
            error.hide()
            done = await perform(
                Role.ADMIN, lambda _: create(), "Webhook added", on_error=error.show
            )
            if done is not None:
                _, secret = done.value
                url.set_value("")
                show_once(
                    "Signing secret",
                    secret,
                    "Each notification carries X-Fastflow-Signature-256: sha256=HMAC(secret, "
                    "body). Copy the secret now: it is not shown again.",
                )
                await reload()

        ui.button("Add", icon="add", on_click=go).props(tid("outbound-add")).mark("outbound-add")


def _inbound_row(hook: InboundHook, reload: Any) -> None:
    with ui.row().classes("w-full items-center gap-3 py-1 ff-row").props(tid("inbound")):
        with ui.column().classes("gap-0 grow min-w-[12rem]"):
            ui.label(inbound_url(hook)).classes("ff-mono text-sm break-all font-medium")
            ui.label(
                f"created {when(hook.created_at)} by {hook.created_by or '—'} · last used "
                f"{when(hook.last_used_at)}"
            ).classes("text-xs text-grey-7")

        async def rotate() -> None:
            await _make(hook.target)
            await reload()

        ui.button("New token", icon="autorenew", on_click=rotate).props(
            "flat dense " + tid("inbound-rotate")
        )
        delete_button(
            Role.ADMIN,
            lambda _: session.services().inbound_hooks.delete(hook.id),
            "Delete this hook?",
            f"Calls to {inbound_url(hook)} are refused from now on.",
            "Hook deleted",
            reload,
            "inbound-delete",
            True,
        )


async def _make(target: str) -> bool:
    svc = session.services()

    def create(username: str) -> tuple[InboundHook, str]:
        if target != SYNC_TARGET:
            svc.pipeline_service.get(target.removeprefix("pipeline:"))
        return svc.inbound_hooks.create(target, username)

    done = await perform(Role.ADMIN, lambda user: create(user.username), "Hook token made")
    if done is None:
        return False
    hook, token = done.value
    show_once(
        "Hook token",
        token,
        "Send it as X-Fastflow-Token (or sign the body with it as GitHub does). Copy it "
        "now: it is not shown again; a new token replaces it.",
        extra=f"POST {svc.settings.public_url.rstrip('/')}{inbound_url(hook)}",
    )
    return True


def register() -> None:
    @ui.page("/admin/webhooks")
    async def webhooks_page() -> None:
        with frame("Webhooks", [("Webhooks", None)]) as me:
            if not admins_only(me):
                return
            svc = session.services()
            names = list(await asyncio.to_thread(svc.pipeline_service.names))

            @ui.refreshable
            def outbound(rows: list[OutboundWebhook]) -> None:
                if not rows:
                    ui.label("No outbound webhooks.").classes("text-sm text-grey-7")
                for hook in rows:
                    _outbound_card(hook, reload)

            @ui.refreshable
            def inbound(rows: list[InboundHook]) -> None:
                if not rows:
                    ui.label("No inbound hooks.").classes("text-sm text-grey-7")
                for hook in rows:
                    _inbound_row(hook, reload)

            async def reload() -> None:
                outbound.refresh(await asyncio.to_thread(svc.outbound.all))
                inbound.refresh(await asyncio.to_thread(svc.inbound_hooks.all))

            ui.label("Outbound webhooks").classes("text-xl font-bold")
            ui.label(
                "A signed JSON notification to each URL when a run finishes, retried with backoff."
            ).classes("text-sm text-grey-8")
            _outbound_form(names, reload)
            with ui.column().classes("w-full gap-3").props(tid("outbound-list")):
                outbound(await asyncio.to_thread(svc.outbound.all))
            ui.label("Inbound hooks").classes("text-xl font-bold mt-4")
            ui.label(
                "A token that lets a caller without a login (CI, GitHub) start a pipeline or "
                "a git sync."
            ).classes("text-sm text-grey-8")
            with ui.row().classes("w-full items-center gap-2").props(tid("inbound-create")):
                target = ui.select([_SYNC, *names], value=names[0] if names else _SYNC).classes(
                    "w-64"
                )
                target.props("outlined dense " + tid("inbound-target")).mark("inbound-target")

                async def make() -> None:
                    value = str(target.value)
                    chosen = SYNC_TARGET if value == _SYNC else pipeline_target(value)
                    if await _make(chosen):
                        await reload()

                ui.button("Make token", icon="key", on_click=make).props(tid("inbound-add")).mark(
                    "inbound-add"
                )
            with ui.card().classes("ff-card w-full").props(tid("inbound-list")):
                inbound(await asyncio.to_thread(svc.inbound_hooks.all))
