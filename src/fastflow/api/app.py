"""The FastAPI application factory; the lifespan starts and stops fastflow's services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fastflow import __version__
from fastflow.api.errors import install_error_handlers
from fastflow.api.routes import auth, health, pipelines, runs, workers
from fastflow.services import Services, build_services
from fastflow.settings import Settings


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """A fastflow server for `settings` (services may be given, e.g. by tests)."""
    built = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await built.start()
        try:
            yield
        finally:
            await built.stop()

    app = FastAPI(
        title="fastflow",
        version=__version__,
        description="Self-hosted orchestrator for Python pipelines.",
        lifespan=lifespan,
    )
    app.state.services = built
    install_error_handlers(app)
    for router in (health.router, auth.router, pipelines.router, runs.router, workers.router):
        app.include_router(router)
    return app
