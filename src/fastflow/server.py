"""The fastflow server: the HTTP API with the web console mounted beside it."""

from __future__ import annotations

from fastapi import FastAPI

from fastflow.api.app import create_api
from fastflow.services import Services, build_services
from fastflow.settings import Settings


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """A fastflow server for `settings` (services may be given, e.g. by tests)."""
    built = services or build_services(settings)
    app = create_api(settings, built)
    if settings.ui_enabled:
        # Imported only when wanted: NiceGUI is a process-wide singleton and slow to import.
        from fastflow.ui import mount_ui

        mount_ui(app, built)
    return app
