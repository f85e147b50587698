"""Git sync: the checkout's state, the last sync's result, "Sync now" — as
a page, and as the compact line with a button the dashboard shows.

Both call `SyncService.status()` and `.sync()`, the same calls as `/api/sync/status` and
`POST /api/sync`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from fastflow.models import Role
from fastflow.ui import session
from fastflow.ui.actions import perform_async
from fastflow.ui.layout import FormError, frame, tid


async def load_status() -> dict[str, Any]:
    """`GET /api/sync/status`'s answer."""
    return await session.services().sync.status()


def _short(commit: str | None) -> str:
    return commit[:10] if commit else "—"


def _result(status: dict[str, Any]) -> tuple[str, str]:
    """('synced 2025-… ok' or 'failed …', colour) for the last sync."""
    last = status.get("last_sync")
    if not last:
        return "never synced", "grey-8"
    at = str(last.get("at") or "")[:19].replace("T", " ")
    if last.get("ok"):
        return f"last sync {at} UTC: ok", "green-9"
    return f"last sync {at} UTC failed", "red-9"


def summary(status: dict[str, Any]) -> str:
    """One line: branch, commit, last sync."""
    if not status.get("is_git_checkout"):
        return "PIPELINES_DIR is not a git checkout"
    text, _ = _result(status)
    return f"{status.get('branch') or '?'} @ {_short(status.get('commit'))} · {text}"


async def sync_now(branch: str | None = None) -> dict[str, Any] | None:
    """Pull now (operator); a toast with what changed, or with what went wrong."""

    def described(result: dict[str, Any]) -> str:
        parts = [f"Synced {result['branch']} at {_short(result.get('commit'))}"]
        if not result.get("changed"):
            parts.append("(no new commits)")
        if added := result.get("added_pipelines"):
            parts.append("· new: " + ", ".join(added))
        if removed := result.get("removed_pipelines"):
            parts.append("· removed: " + ", ".join(removed))
        parts.extend(result.get("warnings") or [])
        return " ".join(parts)

    done = await perform_async(
        Role.OPERATOR,
        lambda _: session.services().sync.sync(branch or None, reason="ui"),
        described,
    )
    return done.value if done else None


def sync_button(operator: bool, after: Callable[[], Awaitable[None]]) -> ui.button:
    """'Sync now' with a loading state while git runs."""

    async def click() -> None:
        button.props("loading")
        try:
            await sync_now()
        finally:
            button.props(remove="loading")
        await after()

    button = ui.button("Sync now", icon="sync", on_click=click).props(tid("sync-now"))
    button.set_enabled(operator)
    return button


def _facts(status: dict[str, Any]) -> list[tuple[str, str]]:
    now = session.services().sync_settings.effective()
    facts = [
        ("Remote", status.get("remote") or "—"),
        ("Branch", status.get("branch") or "—"),
        ("Default branch", str(status.get("default_branch"))),
        ("Commit", f"{_short(status.get('commit'))} {status.get('subject') or ''}".strip()),
        ("Ahead / behind origin", f"{status.get('ahead', '—')} / {status.get('behind', '—')}"),
        (
            "Local changes",
            "yes (a sync stashes them under refs/fastflow/backup/)"
            if status.get("dirty")
            else "no",
        ),
        ("Warming environments", ", ".join(status.get("warming") or []) or "none"),
        ("Auto sync", _interval_text(now.auto_sync_interval)),
        ("uv pre-heating", "on" if now.pre_heat else "off"),
        ("GitHub App", "yes" if status.get("github_app") else "no"),
    ]
    return facts


def _status_view(status: dict[str, Any]) -> None:
    if not status.get("is_git_checkout"):
        ui.label(
            "PIPELINES_DIR is not a git checkout. Clone your pipeline repository there to use "
            "sync; fastflow never clones."
        ).classes("text-grey-8").props(tid("sync-not-checkout"))
    text, color = _result(status)
    ui.label(text).classes(f"text-{color} font-medium").props(tid("sync-result"))
    last = status.get("last_sync") or {}
    if last.get("error"):
        ui.label(str(last["error"])).classes("text-negative text-sm break-all ff-mono").props(
            tid("sync-error")
        )
    if status.get("is_git_checkout"):
        with ui.grid().classes("w-full gap-x-6 gap-y-1 grid-cols-1 sm:grid-cols-2"):
            for label, value in _facts(status):
                with ui.column().classes("gap-0 min-w-0"):
                    ui.label(label).classes("text-xs text-grey-7 uppercase")
                    ui.label(value).classes("text-sm break-all").props(tid(f"sync-{label}"))
    if last.get("ok"):
        changed = [
            ("added", last.get("added_pipelines")),
            ("removed", last.get("removed_pipelines")),
        ]
        if last.get("local_changes_ref"):
            changed.append(
                (f"local changes kept as {last['local_changes_ref']}", last["kept_local_changes"])
            )
        for label, names in changed:
            if names:
                ui.label(f"{label}: {', '.join(names)}").classes("text-sm")
        for warning in last.get("warnings") or []:
            ui.label(warning).classes("text-sm text-orange-10")
    if last.get("output"):
        ui.label("git output of the last sync").classes("text-xs text-grey-7 uppercase mt-2")
        ui.code(str(last["output"]), language="text").classes("w-full text-xs")


def _interval_text(seconds: float | None) -> str:
    return f"every {seconds:g} s" if seconds else "off"


def _settings_card(admin: bool, after: Callable[[], Awaitable[None]]) -> None:
    """Branch, auto-sync interval and pre-heat: editable by admins, stored in the database;
    an empty field means the environment's value, shown beside it."""
    service = session.services().sync_settings
    view = service.view()
    env = service.defaults
    with ui.card().classes("ff-card w-full").props(tid("sync-settings")):
        ui.label("Settings").classes("text-lg font-bold")
        ui.label(
            "Stored in the database; they win over the environment's (GIT_BRANCH, "
            "AUTO_SYNC_INTERVAL, UV_PRE_HEAT). Leave a field empty for the environment's value."
        ).classes("text-sm text-grey-8")
        with ui.row().classes("w-full items-start gap-3"):
            branch = ui.input(
                f"Branch (environment: {env.branch})", value=view["branch"]["stored"] or ""
            ).props("outlined dense " + tid("settings-branch"))
            branch.classes("w-64").mark("settings-branch")
            stored_interval = view["auto_sync_interval"]["stored"]
            interval = ui.number(
                f"Auto-sync seconds, 0 off (environment: {_interval_text(env.auto_sync_interval)})",
                value=stored_interval,
                min=0,
            ).props("outlined dense " + tid("settings-interval"))
            interval.classes("w-80").mark("settings-interval")
            choices = {"": f"environment's ({'on' if env.pre_heat else 'off'})", "on": "on"}
            choices["off"] = "off"
            stored_heat = view["pre_heat"]["stored"]
            heat = ui.select(
                choices,
                label="Pre-heat environments after a sync",
                value="" if stored_heat is None else ("on" if stored_heat else "off"),
            ).props("outlined dense " + tid("settings-preheat"))
            heat.classes("w-64").mark("settings-preheat")
        if view["updated_at"]:
            ui.label(f"last changed {view['updated_at'][:19]} UTC by {view['updated_by']}").classes(
                "text-xs text-grey-7"
            )
        error = FormError("settings-error")
        for field in (branch, interval, heat):
            field.set_enabled(admin)

        async def save() -> None:
            error.hide()
            changes: dict[str, Any] = {
                "branch": (branch.value or "").strip() or None,
                "auto_sync_interval": interval.value,
                "pre_heat": {"on": True, "off": False}.get(str(heat.value)),
            }
            done = await perform_async(
                Role.ADMIN,
                lambda user: service.update(changes, user.username),
                "Sync settings saved",
                on_error=error.show,
            )
            if done is not None:
                await after()

        save_button = ui.button("Save settings", icon="save", on_click=save)
        save_button.props(tid("settings-save")).mark("settings-save")
        save_button.set_enabled(admin)
        if not admin:
            ui.label("Only admins change these.").classes("text-xs text-grey-7")


def register() -> None:
    @ui.page("/sync")
    async def sync_page() -> None:
        with frame("Git sync", [("Git sync", None)]) as user:
            operator = session.can_operate(user)

            @ui.refreshable
            def body(status: dict[str, Any]) -> None:
                _status_view(status)

            async def reload() -> None:
                body.refresh(await load_status())

            with ui.row().classes("items-center w-full gap-2"):
                ui.label("Git sync").classes("text-xl font-bold")
                ui.space()
                branch = ui.input("Branch (empty: default)").props("outlined dense")
                branch.classes("w-48").props(tid("sync-branch"))

                async def click() -> None:
                    button.props("loading")
                    try:
                        await sync_now((branch.value or "").strip() or None)
                    finally:
                        button.props(remove="loading")
                    await reload()

                button = ui.button("Sync now", icon="sync", on_click=click).props(tid("sync-now"))
                button.set_enabled(operator)
            ui.label(
                "A sync fetches the branch and checks it out. Nothing local is lost: local "
                "commits the remote lacks and uncommitted changes are kept under "
                "refs/fastflow/backup/ (git stash apply <ref> brings changes back)."
            ).classes("text-sm text-grey-8")
            with ui.card().classes("ff-card w-full").props(tid("sync-status")):
                body(await load_status())

            @ui.refreshable
            def settings() -> None:
                _settings_card(session.is_admin(user), saved)

            async def saved() -> None:
                settings.refresh()
                await reload()

            settings()
