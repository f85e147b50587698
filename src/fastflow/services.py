"""Builds fastflow's parts from settings — the one place implementations are chosen."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastflow.auth.service import AuthService
from fastflow.auth.tokens import TokenIssuer
from fastflow.dispatch.base import Dispatcher
from fastflow.dispatch.embedded import EmbeddedDispatcher
from fastflow.errors import ConfigError
from fastflow.events.fanout import EventFanout
from fastflow.events.memory_fanout import MemoryFanout
from fastflow.executors.base import Executor
from fastflow.executors.docker import DockerExecutor
from fastflow.executors.local import LocalExecutor
from fastflow.executors.uv_env import EnvironmentCache
from fastflow.keyfile import load_or_create
from fastflow.pipelines.discovery import PipelineCatalog
from fastflow.pipelines.service import PipelineService
from fastflow.runs.engine import RunEngine
from fastflow.runs.service import RunService
from fastflow.settings import DispatcherKind, Settings
from fastflow.storage.database import Database
from fastflow.storage.pipeline_store import PipelineStore
from fastflow.storage.run_store import RunStore
from fastflow.storage.user_store import UserStore

log = logging.getLogger(__name__)


@dataclass
class Services:
    settings: Settings
    db: Database
    runs: RunStore
    pipeline_store: PipelineStore
    users: UserStore
    catalog: PipelineCatalog
    fanout: EventFanout
    engine: RunEngine
    dispatcher: Dispatcher
    run_service: RunService
    pipeline_service: PipelineService
    auth: AuthService

    async def start(self) -> None:
        """Migrate, settle what a previous server left running, then start dispatching."""
        self.db.migrate()
        self.auth.ensure_admin(self.settings.admin_user, self.settings.admin_password)
        settled = await self.engine.recover()
        if settled:
            log.warning("settled %d run(s) left RUNNING by a previous server", settled)
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()
        await self.engine.stop()
        self.db.dispose()


def _executors(settings: Settings) -> dict[str, Executor]:
    envs = EnvironmentCache(settings.envs_dir, settings.resolved_uv_cache_dir)
    local = LocalExecutor(
        envs,
        cancel_grace=settings.cancel_grace_seconds,
        metrics_interval=settings.metrics_interval,
        max_line_bytes=settings.max_line_bytes,
    )
    # Always there, so a pipeline.json `"executor": "docker"` works under EXECUTOR=local too;
    # it connects to the engine on first use, so an engine that is down fails runs
    # (ENGINE_ERROR), never the server's start.
    docker = DockerExecutor(
        image=settings.worker_base_image,
        uv_cache_dir=settings.resolved_uv_cache_dir,
        base_url=settings.docker_host,
        cancel_grace=settings.cancel_grace_seconds,
        health_interval=settings.health_check_interval,
        health_timeout=settings.health_timeout,
        max_line_bytes=settings.max_line_bytes,
    )
    return {"local": local, "docker": docker}


def build_services(settings: Settings) -> Services:
    """Wire every part for `settings`; nothing starts until `Services.start()`."""
    for folder in (settings.data_dir, settings.logs_dir):
        folder.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    runs = RunStore(db)
    pipeline_store = PipelineStore(db)
    users = UserStore(db)
    catalog = PipelineCatalog(settings.pipelines_dir)
    fanout = MemoryFanout()
    engine = RunEngine(settings, runs, pipeline_store, catalog, _executors(settings), fanout)
    if settings.dispatcher is not DispatcherKind.EMBEDDED:
        raise ConfigError("DISPATCHER=celery: the celery dispatcher is not part of this build yet")
    dispatcher = EmbeddedDispatcher(runs, engine, settings.max_concurrent_runs)
    secret_key = settings.secret_key or load_or_create(
        settings.data_dir / "secret_key", TokenIssuer.generate_key, "token signing key"
    )
    auth = AuthService(users, TokenIssuer(secret_key, settings.access_token_minutes))
    return Services(
        settings=settings,
        db=db,
        runs=runs,
        pipeline_store=pipeline_store,
        users=users,
        catalog=catalog,
        fanout=fanout,
        engine=engine,
        dispatcher=dispatcher,
        run_service=RunService(settings, runs, pipeline_store, catalog, engine, dispatcher),
        pipeline_service=PipelineService(catalog, pipeline_store, runs),
        auth=auth,
    )
