"""The HTTP API as a FastAPI application; its lifespan starts and stops fastflow's services."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from fastflow import __version__
from fastflow.api import log_redaction
from fastflow.api.cors import CorsMiddleware
from fastflow.api.errors import install_error_handlers
from fastflow.api.middleware import (
    BodySizeLimitMiddleware,
    PathGuardMiddleware,
    SecurityHeadersMiddleware,
)
from fastflow.api.routes import (
    artifacts,
    auth,
    builds,
    events_sse,
    events_ws,
    health,
    hooks,
    job_feed,
    jobs,
    live_builds,
    metrics,
    oidc,
    pipelines,
    runs,
    schedules,
    secrets,
    server_logs,
    streams,
    sync,
    tasks_v1,
    users,
    webhooks,
    worker_runs,
    workers,
)
from fastflow.api.routes.api_docs import docs_router
from fastflow.api.routes.sync import MAX_HOOK_BODY
from fastflow.api.streaming import Encoder
from fastflow.monitoring.log_buffer import LogBuffer
from fastflow.services import Services
from fastflow.settings import Settings


def create_api(settings: Settings, built: Services) -> FastAPI:
    """The API of a fastflow server for `settings`, over the services `built`."""

    log_buffer = LogBuffer()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log_redaction.install()  # again: uvicorn has configured its loggers by now
        log_buffer.install()
        try:
            await built.start()
            try:
                yield
            finally:
                await built.stop()
        finally:
            log_buffer.uninstall()

    app = FastAPI(
        title="fastflow",
        version=__version__,
        description="Self-hosted orchestrator for Python pipelines.",
        lifespan=lifespan,
        # Served by docs_router below: offline, behind login unless FASTFLOW_PUBLIC_DOCS=true.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    app.state.services = built
    app.state.stream_encoder = Encoder()  # shared: many viewers of a run reuse one encoding
    app.state.job_feed = job_feed.JobFeed(built)  # one poller for every `/ws` socket
    app.state.log_buffer = log_buffer  # the server's recent log records (`/api/logs/stream`)
    install_error_handlers(app)
    log_redaction.install()
    upload_bytes = int(settings.upload_max_size_mb * 1024 * 1024)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        # Uploads: the builds route gives the precise answer; this only stops absurd bodies
        # (the slack covers multipart framing and form fields).
        per_path={
            "/api/builds": upload_bytes + 1024 * 1024,
            "/api/v1/build": upload_bytes + 1024 * 1024,
            # Webhook bodies (a GitHub push payload): the limit the docs name, read_limited's.
            "/api/hooks": MAX_HOOK_BODY,
            "/api/sync/hook": MAX_HOOK_BODY,
            # Artifacts of remote runs: the route checks each against ARTIFACTS_MAX_SIZE_MB.
            "/api/worker/runs": int(settings.artifacts_max_size_mb * 1024 * 1024) + 1024,
        },
    )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(PathGuardMiddleware)
    if settings.cors_origin_list:
        # Outermost: preflights are answered, and every answer (errors too) is marked.
        app.add_middleware(CorsMiddleware, origins=settings.cors_origin_list)
    routers = (
        health.router,
        auth.router,
        oidc.router,
        pipelines.router,
        runs.router,
        secrets.router,
        users.router,
        events_sse.router,
        events_ws.router,
        streams.router,
        schedules.router,
        sync.router,
        hooks.router,
        webhooks.router,
        artifacts.router,
        builds.router,
        live_builds.router,
        jobs.router,
        job_feed.router,
        server_logs.router,
        tasks_v1.router,
        metrics.router,
        workers.router,
        worker_runs.router,
    )
    for router in routers:
        app.include_router(router)
    app.include_router(docs_router(app, public=settings.public_docs))
    return app
