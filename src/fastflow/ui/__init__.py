"""The web console: NiceGUI pages mounted on the API's FastAPI app, behind login.

One module per page; `mount_ui` is the only entry point and is called by `create_app` when
FASTFLOW_UI is on (the default). The pages call the same services as the API and never SQL.
"""

from __future__ import annotations

from fastapi import FastAPI

from fastflow.errors import ConfigError
from fastflow.services import Services

_mounted: list[FastAPI] = []
_registered: list[bool] = []


def mount_ui(app: FastAPI, services: Services) -> None:
    """Serve the console on `app` at `/` (the API keeps `/api`, `/docs`, `/health`)."""
    if _mounted:
        # NiceGUI keeps its pages, storage and middleware in one process-wide app.
        raise ConfigError(
            "the web UI can be mounted on one server per process; set FASTFLOW_UI=false"
        )
    from nicegui import app as ui_app
    from nicegui import ui
    from nicegui.storage import Storage

    from fastflow.ui import (
        artifact_files,
        builds,
        dashboard,
        downloads,
        gitsync,
        login,
        pipelines,
        run_detail,
        runs,
        schedules,
        secrets,
        session,
        tokens,
        users,
        webhooks,
    )

    storage = services.settings.data_dir / "ui"
    storage.mkdir(parents=True, exist_ok=True, mode=0o700)
    # NiceGUI keeps its own state files here; under DATA_DIR, readable by the server's user.
    Storage.path = storage
    session.bind(services)
    if not _registered:
        # Pages reach the server through `session.services()`: registered once per process.
        for page in (login, dashboard, pipelines, runs, run_detail, downloads):
            page.register()
        for page in (schedules, secrets, gitsync, artifact_files):
            page.register()
        for page in (builds, tokens, users, webhooks):
            page.register()
        _registered.append(True)
    # After `unmount_ui`: NiceGUI's app is built anew around the next server's middleware.
    ui_app.middleware_stack = None
    ui_app.user_middleware.clear()
    ui_app.add_middleware(session.LoginWall)
    # No storage_secret: the console keeps no session of its own; it uses the API's
    # session cookie (see session.py), so there is one login for both.
    ui.run_with(
        app,
        title="fastflow",
        mount_path="/",
        show_welcome_message=False,
        reconnect_timeout=10.0,
        # None: light or dark as the system says; comfort.js applies a choice made per browser.
        dark=None,
    )
    _mounted.append(app)


def unmount_ui() -> None:
    """Allow `mount_ui` again once the server it was mounted on has shut down (tests only:
    the in-process NiceGUI tests build one app per database)."""
    _mounted.clear()
