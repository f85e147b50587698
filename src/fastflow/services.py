"""Builds fastflow's parts from settings — the one place implementations are chosen."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastflow.auth.service import AuthService
from fastflow.auth.throttle import LoginThrottle
from fastflow.auth.tokens import TokenIssuer
from fastflow.dispatch.base import Dispatcher
from fastflow.dispatch.embedded import EmbeddedDispatcher
from fastflow.errors import ConfigError
from fastflow.events.connections import StreamRegistry
from fastflow.events.fanout import EventFanout
from fastflow.events.memory_fanout import MemoryFanout
from fastflow.executors.base import Executor
from fastflow.executors.local import LocalExecutor
from fastflow.executors.uv_env import EnvironmentCache
from fastflow.keyfile import load_or_create
from fastflow.pipelines.discovery import PipelineCatalog
from fastflow.pipelines.service import PipelineService
from fastflow.runs.engine import RunEngine
from fastflow.runs.service import RunService
from fastflow.secrets.crypto import load_cipher
from fastflow.secrets.service import SecretService
from fastflow.secrets.store import SecretStore
from fastflow.settings import DispatcherKind, ExecutorKind, Settings
from fastflow.storage.database import Database
from fastflow.storage.pipeline_store import PipelineStore
from fastflow.storage.run_store import RunStore
from fastflow.storage.token_store import TokenStore
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
    secrets: SecretService

    def preflight(self) -> None:
        """Migrate and check the encryption key fits the stored secrets (else ConfigError)."""
        self.db.migrate()
        self.secrets.verify_key()

    streams: StreamRegistry

    async def start(self) -> None:
        """Migrate, settle what a previous server left running, then start dispatching."""
        self.preflight()
        self.auth.ensure_admin(self.settings.admin_user, self.settings.admin_password)
        settled = self.engine.recover()
        if settled:
            log.warning("settled %d run(s) left RUNNING by a previous server", settled)
        await self.dispatcher.start()

    async def stop(self) -> None:
        await self.dispatcher.stop()
        self.db.dispose()


def _executors(settings: Settings) -> dict[str, Executor]:
    envs = EnvironmentCache(settings.envs_dir, settings.resolved_uv_cache_dir)
    local = LocalExecutor(
        envs,
        cancel_grace=settings.cancel_grace_seconds,
        metrics_interval=settings.metrics_interval,
        max_line_bytes=settings.max_line_bytes,
    )
    executors: dict[str, Executor] = {"local": local}
    if settings.executor is ExecutorKind.DOCKER:
        raise ConfigError("EXECUTOR=docker: the docker executor is not part of this build yet")
    return executors


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
    secrets = SecretService(SecretStore(db), load_cipher(settings))
    engine = RunEngine(
        settings, runs, pipeline_store, catalog, _executors(settings), fanout, secrets=secrets
    )
    if settings.dispatcher is not DispatcherKind.EMBEDDED:
        raise ConfigError("DISPATCHER=celery: the celery dispatcher is not part of this build yet")
    dispatcher = EmbeddedDispatcher(runs, engine, settings.max_concurrent_runs)
    secret_key = settings.secret_key or load_or_create(
        settings.data_dir / "secret_key", TokenIssuer.generate_key, "token signing key"
    )
    throttle = LoginThrottle(
        settings.login_max_failures,
        settings.login_max_failures_per_address,
        settings.login_window_seconds,
    )
    auth = AuthService(
        users, TokenIssuer(secret_key, settings.access_token_minutes), TokenStore(db), throttle
    )
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
        secrets=secrets,
        streams=StreamRegistry(settings.stream_max_per_user),
    )
