"""The frame around every page: header with user and logout, navigation drawer, breadcrumbs.

Pages call `frame(...)` first and build their content inside it, so navigation is the same
everywhere and a new page only adds a `NAV` entry.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from nicegui import ui

from fastflow import __version__
from fastflow.models import Role
from fastflow.records import User
from fastflow.ui import session

# (label, icon, path, least role): the drawer's links, in this order; a link is shown only
# to roles that may use its page (the page and its actions check the role again).
NAV: list[tuple[str, str, str, Role]] = [
    ("Dashboard", "dashboard", "/", Role.VIEWER),
    ("Pipelines", "account_tree", "/pipelines", Role.VIEWER),
    ("Runs", "list_alt", "/runs", Role.VIEWER),
    ("Schedules", "event_repeat", "/schedules", Role.VIEWER),
    ("Builds", "upload_file", "/builds", Role.VIEWER),
    ("Secrets", "key", "/secrets", Role.VIEWER),
    ("Git sync", "sync", "/sync", Role.VIEWER),
    ("API tokens", "token", "/tokens", Role.VIEWER),
    ("Users", "group", "/admin/users", Role.ADMIN),
    ("Webhooks", "webhook", "/admin/webhooks", Role.ADMIN),
]

# (keys, what they do): shown behind `?`; the keys themselves are handled in comfort.js.
SHORTCUTS: list[tuple[str, str]] = [
    ("/", "search pipelines and runs"),
    ("g d", "dashboard"),
    ("g p", "pipelines"),
    ("g r", "runs"),
    ("g s", "schedules"),
    ("g b", "builds"),
    ("g y", "git sync"),
    ("g e", "secrets"),
    ("g t", "API tokens"),
    ("g u", "users (admins)"),
    ("g w", "webhooks (admins)"),
    ("?", "this list"),
]

COMFORT_JS = (Path(__file__).parent / "static" / "comfort.js").read_text(encoding="utf-8")
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


def tid(name: str) -> str:
    """Props giving an element a stable `data-testid` for browser tests."""
    return f'data-testid="{name}"'


Crumb = tuple[str, str | None]  # (label, link or None for the current page)

_CSS = """
body { background: #f5f7fa; }
body.body--dark { background: #0b1120; }
/* In the "overrides" layer: an !important there wins over Quasar's colour classes
   (NiceGUI loads them as !important in a later layer; for !important, earlier wins). */
@layer overrides {
.body--dark .bg-grey-2 { background: #1f2937 !important; }
.body--dark .bg-orange-1 { background: #3a2410 !important; }
.body--dark .text-grey-7, .body--dark .text-grey-8 { color: #9ca3af !important; }
.body--dark .text-grey-9 { color: #d1d5db !important; }
.body--dark .text-primary, .body--dark a.text-primary { color: #93c5fd !important; }
.body--dark .text-green-9 { color: #86efac !important; }
.body--dark .text-red-9, .body--dark .text-negative { color: #fca5a5 !important; }
.body--dark .text-blue-9 { color: #93c5fd !important; }
.body--dark .text-orange-10 { color: #fdba74 !important; }
.body--dark .q-header.bg-primary { background: #172554 !important; }
}
.ff-kbd { font-family: ui-monospace, monospace; border: 1px solid #9ca3af; border-radius: 4px;
  padding: 0 5px; font-size: 12px; }
.ff-row { border-bottom: 1px solid rgba(128, 128, 128, 0.25); }
.ff-strip { display: flex; gap: 3px; flex-wrap: wrap; }
.ff-strip a { width: 14px; height: 14px; border-radius: 3px; display: inline-block; }
.ff-card { border-radius: 10px; }
.ff-mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.nicegui-log.ff-log { background: #0f172a; color: #e2e8f0; font-size: 12.5px; line-height: 1.45; }
.ff-log .ff-stderr { color: #fca5a5; }
.ff-log .ff-system { color: #93c5fd; font-style: italic; }
.ff-log .ff-gap { color: #fbbf24; }
.ff-log .ff-hit { background: #854d0e; }
"""


def _search(text: str) -> None:
    """The header's search: a run id opens the run, a pipeline name its page, else the
    pipelines whose name contains the text."""
    text = text.strip()
    if not text:
        return
    if _RUN_ID.match(text.lower()):
        ui.navigate.to(f"/runs/{text.lower()}")
    elif text in session.services().catalog.scan():
        ui.navigate.to(f"/pipelines/{text}")
    else:
        ui.navigate.to(f"/pipelines?q={quote(text, safe='')}")


def _shortcuts_dialog() -> ui.dialog:
    with ui.dialog() as dialog, ui.card().classes("max-w-[92vw]").props(tid("shortcuts")):
        ui.label("Keyboard shortcuts").classes("text-lg font-bold")
        with ui.grid(columns=2).classes("gap-x-4 gap-y-1 items-center"):
            for keys, what in SHORTCUTS:
                with ui.row().classes("gap-1"):
                    for key in keys.split():
                        ui.label(key).classes("ff-kbd")
                ui.label(what).classes("text-sm")
        ui.button("Close", on_click=dialog.close).props("flat")
    return dialog


async def _toggle_theme(button: ui.button) -> None:
    theme = await ui.run_javascript("return window.ffCycleTheme()")
    icon = {"dark": "dark_mode", "light": "light_mode"}.get(str(theme), "brightness_auto")
    button.props(f"icon={icon}")
    ui.notify(f"Theme: {theme}", position="top", timeout=1200)


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
    ui.add_body_html(f"<script>{COMFORT_JS}</script>")
    shortcuts = _shortcuts_dialog()
    with ui.header(elevated=True).classes(
        "items-center px-2 sm:px-3 py-2 gap-1 sm:gap-2 bg-primary text-white no-wrap"
    ):
        drawer_button = ui.button(icon="menu").props(
            'flat round color=white dense aria-label="Menu"'
        )
        drawer_button.props(tid("menu"))
        ui.link("fastflow", "/").classes("text-lg font-bold text-white no-underline")
        ui.space()
        search = (
            ui.input(placeholder="Search  /")
            .props('dense standout dark clearable data-ff-search input-class="text-white"')
            .classes("w-32 sm:w-56")
            .props(tid("search"))
        )
        search.on("keydown.enter", lambda: _search(search.value or ""))
        ui.button(icon="keyboard", on_click=shortcuts.open).props(
            'flat round color=white dense aria-label="Keyboard shortcuts"'
        ).props(tid("shortcuts-open")).classes("max-sm:hidden").tooltip("Shortcuts (?)")
        theme = ui.button(icon="brightness_auto").props(
            'flat round color=white dense aria-label="Theme"'
        )
        theme.props(tid("theme-toggle")).tooltip("Theme: system, dark, light")
        theme.on_click(lambda: _toggle_theme(theme))
        ui.label(f"{user.username} ({user.role})").classes("text-sm max-md:hidden")
        ui.button(icon="logout", on_click=_logout).props(
            'flat round color=white dense aria-label="Log out"'
        ).tooltip("Log out").props(tid("logout"))
    with ui.left_drawer(value=None, bordered=True) as drawer:
        # value=None: open on wide screens, closed (and toggled by the menu) on phones.
        with ui.list().classes("w-full"):
            for label, icon, path, needs in NAV:
                if not Role(user.role).allows(needs):
                    continue
                with ui.item(on_click=lambda p=path: ui.navigate.to(p)).props(tid(f"nav-{label}")):
                    with ui.item_section().props("avatar"):
                        ui.icon(icon, color="primary")
                    with ui.item_section():
                        ui.item_label(label)
        ui.label(f"{user.username} ({user.role}) · v{__version__}").classes(
            "text-xs text-grey-7 q-pa-md"
        )
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
            ui.button(action, color="negative", on_click=go).props(tid(testid)).mark(testid)
    dialog.on("hide", dialog.delete)
    dialog.open()


def admins_only(user: User) -> bool:
    """On an admin page: True for admins; for others, says so on the page (nothing else is
    built, and every action checks the role again)."""
    if session.is_admin(user):
        return True
    ui.label("This page is for admins.").classes("text-grey-8").props(tid("admins-only"))
    return False


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
