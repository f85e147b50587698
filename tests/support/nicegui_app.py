"""The fastflow app with its console mounted, for NiceGUI's `User` simulation tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from nicegui import ui
from nicegui.functions.download import download
from nicegui.functions.navigate import Navigate
from nicegui.functions.notify import notify

from fastflow.server import create_app
from fastflow.settings import Settings
from fastflow.ui import unmount_ui


@asynccontextmanager
async def console_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """`create_app(settings)` started (lifespan) with the console; unmounted afterwards."""
    application = create_app(settings)
    try:
        async with application.router.lifespan_context(application):
            yield application
    finally:
        unmount_ui()
        # User swaps these for its simulations while a test runs; put NiceGUI's back.
        ui.navigate = Navigate()
        ui.notify = notify
        ui.download = download
