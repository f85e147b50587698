"""The web console: NiceGUI pages mounted on the API's FastAPI app, behind login.

One module per page; `mount_ui` is the only entry point and is called by `create_app` when
FASTFLOW_UI is on (the default). The pages call the same services as the API and never SQL.
"""

from __future__ import annotations

from fastapi import FastAPI

from fastflow.errors import ConfigError
from fastflow.services import Services

SESSION_COOKIE = "fastflow_ui"

_mounted: list[FastAPI] = []


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

    from fastflow.ui import dashboard, downloads, login, pipelines, run_detail, runs, session

    storage = services.settings.data_dir / "ui"
    storage.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Session files hold bearer tokens: under DATA_DIR, readable by the server's user only.
    Storage.path = storage
    session.bind(services)
    for page in (login, dashboard, pipelines, runs, run_detail, downloads):
        page.register()
    # Added before run_with adds the session middleware, so the session wraps the wall.
    ui_app.add_middleware(session.LoginWall)
    ui.run_with(
        app,
        title="fastflow",
        mount_path="/",
        storage_secret=services.auth.tokens.derive_key("ui-session-cookie"),
        session_middleware_kwargs={"session_cookie": SESSION_COOKIE, "same_site": "lax"},
        show_welcome_message=False,
        reconnect_timeout=10.0,
    )
    _mounted.append(app)
