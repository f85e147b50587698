"""The frame around every page: header with user and logout, navigation drawer, breadcrumbs.

Pages call `frame(...)` first and build their content inside it, so navigation is the same
everywhere and a new page only adds a `NAV` entry.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager

from nicegui import ui

from fastflow import __version__
from fastflow.records import User
from fastflow.ui import session

# (label, icon, path): the drawer's links, in this order.
NAV: list[tuple[str, str, str]] = [
    ("Dashboard", "dashboard", "/"),
    ("Pipelines", "account_tree", "/pipelines"),
    ("Runs", "list_alt", "/runs"),
    ("Schedules", "event_repeat", "/schedules"),
    ("Secrets", "key", "/secrets"),
    ("Git sync", "sync", "/sync"),
]


def tid(name: str) -> str:
    """Props giving an element a stable `data-testid` for browser tests."""
    return f'data-testid="{name}"'


Crumb = tuple[str, str | None]  # (label, link or None for the current page)

_CSS = """
body { background: #f5f7fa; }
.ff-card { border-radius: 10px; }
.ff-mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.nicegui-log.ff-log { background: #0f172a; color: #e2e8f0; font-size: 12.5px; line-height: 1.45; }
.ff-log .ff-stderr { color: #fca5a5; }
.ff-log .ff-system { color: #93c5fd; font-style: italic; }
.ff-log .ff-gap { color: #fbbf24; }
.ff-log .ff-hit { background: #854d0e; }
"""


async def _logout() -> None:
    await session.logout()
    ui.navigate.to(session.LOGIN_PATH)


@contextmanager
def frame(title: str, crumbs: Sequence[Crumb] = ()) -> Iterator[User]:
    """Header, drawer and breadcrumbs; yields the logged-in user inside the content column."""
    user = session.current_user()
    ui.page_title(f"{title} · fastflow")
    ui.add_css(_CSS)
    ui.colors(primary="#1e40af")
    with ui.header(elevated=True).classes("items-center px-3 py-2 bg-primary text-white"):
        drawer_button = ui.button(icon="menu").props("flat round color=white dense")
        ui.link("fastflow", "/").classes("text-lg font-bold text-white no-underline")
        ui.space()
        ui.label(f"{user.username} ({user.role})").classes("text-sm max-sm:hidden")
        ui.button(icon="logout", on_click=_logout).props(
            'flat round color=white dense aria-label="Log out"'
        ).tooltip("Log out").props(tid("logout"))
    with ui.left_drawer(value=None, bordered=True).classes("bg-white") as drawer:
        # value=None: open on wide screens, closed (and toggled by the menu) on phones.
        with ui.list().classes("w-full"):
            for label, icon, path in NAV:
                with ui.item(on_click=lambda p=path: ui.navigate.to(p)).props(tid(f"nav-{label}")):
                    with ui.item_section().props("avatar"):
                        ui.icon(icon, color="primary")
                    with ui.item_section():
                        ui.item_label(label)
        ui.label(f"v{__version__}").classes("text-xs text-grey-7 absolute-bottom q-pa-md")
    drawer_button.on_click(drawer.toggle)
    with ui.column().classes("w-full max-w-screen-xl mx-auto p-2 sm:p-4 gap-3"):
        _breadcrumbs([("Home", "/"), *crumbs] if crumbs else [("Home", None)])
        yield user


def _breadcrumbs(crumbs: Sequence[Crumb]) -> None:
    with ui.row().classes("items-center gap-1 text-sm text-grey-8").props(tid("breadcrumbs")):
        for i, (label, link) in enumerate(crumbs):
            if i:
                ui.icon("chevron_right", size="xs").classes("text-grey-6")
            if link:
                ui.link(label, link).classes("text-primary")
            else:
                ui.label(label).classes("font-medium text-grey-9")


def status_badge(status: str) -> ui.badge:
    """A coloured badge for a run status (white text on a dark colour: readable)."""
    from fastflow.ui.format import STATUS_COLORS

    return ui.badge(status, color=STATUS_COLORS.get(status, "grey-7")).classes("text-white")


def toast_error(exc: Exception) -> None:
    """Show what went wrong; fastflow's errors carry a message meant for people."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    ui.notify(message, type="negative", position="top", multi_line=True)


def confirm(
    title: str,
    text: str,
    action: str,
    on_confirm: Callable[[], Awaitable[None]],
    testid: str = "confirm",
) -> None:
    """Ask before something that cannot be undone; `on_confirm` runs only on the red button.

    Opened in the page layout, not inside the clicked element: a live refresh of a list must
    not take the open dialog with it.
    """
    with ui.context.client.layout, ui.dialog() as dialog, ui.card().classes("max-w-[92vw]"):
        ui.label(title).classes("text-lg font-bold break-all")
        ui.label(text).classes("text-sm text-grey-8")

        async def go() -> None:
            dialog.close()
            await on_confirm()

        with ui.row().classes("w-full justify-end"):
            ui.button("Keep", on_click=dialog.close).props("flat").props(tid(f"{testid}-keep"))
            ui.button(action, color="negative", on_click=go).props(tid(testid))
    dialog.on("hide", dialog.delete)
    dialog.open()


class FormError:
    """A hidden alert under a form: `show` puts the service's message there, `hide` clears it."""

    def __init__(self, testid: str) -> None:
        self.label = (
            ui.label()
            .classes("text-negative text-sm break-all")
            .props(tid(testid) + ' role="alert"')
        )
        self.label.set_visibility(False)
        self.label.mark(testid)

    def show(self, message: str) -> None:
        self.label.set_text(message)
        self.label.set_visibility(True)

    def hide(self) -> None:
        self.label.set_visibility(False)
