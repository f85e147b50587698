"""Builds fastflow's parts from settings — the one place implementations are chosen."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastflow.artifacts.keeper import RunFiles
from fastflow.auth.service import AuthService
from fastflow.auth.tokens import TokenIssuer
from fastflow.builds.service import BuildService
from fastflow.dispatch.base import Dispatcher
from fastflow.dispatch.embedded import EmbeddedDispatcher
from fastflow.errors import ConfigError
from fastflow.events.fanout import EventFanout
from fastflow.events.memory_fanout import MemoryFanout
from fastflow.executors.base import Executor
from fastflow.executors.local import LocalExecutor
from fastflow.executors.uv_env import EnvironmentCache
from fastflow.keyfile import load_or_create
from fastflow.monitoring.prometheus import Monitoring
from fastflow.pipelines.discovery import PipelineCatalog
from fastflow.pipelines.service import PipelineService
from fastflow.retention.cleanup import CleanupLoop, CleanupService
from fastflow.runs.engine import RunEngine
from fastflow.runs.service import RunService
from fastflow.settings import DispatcherKind, ExecutorKind, Settings
from fastflow.storage.artifact_store import ArtifactStore
from fastflow.storage.database import Database
from fastflow.storage.objects import ObjectStore, build_object_store
from fastflow.storage.pipeline_store import PipelineStore
from fastflow.storage.retention_store import RetentionStore
from fastflow.storage.run_store import RunStore
from fastflow.storage.upload_store import UploadStore
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
    objects: ObjectStore
    uploads: UploadStore
    artifacts: ArtifactStore
    run_files: RunFiles
    builds: BuildService
    cleanup: CleanupService
    cleanup_loop: CleanupLoop
    monitoring: Monitoring

    async def start(self) -> None:
        """Migrate, settle what a previous server left running, then start dispatching."""
        self.objects.check()
        self.db.migrate()
        self.auth.ensure_admin(self.settings.admin_user, self.settings.admin_password)
        settled = self.engine.recover()
        if settled:
            log.warning("settled %d run(s) left RUNNING by a previous server", settled)
        await self.dispatcher.start()
        await self.cleanup_loop.start()

    async def stop(self) -> None:
        await self.cleanup_loop.stop()
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
    engine = RunEngine(settings, runs, pipeline_store, catalog, _executors(settings), fanout)
    if settings.dispatcher is not DispatcherKind.EMBEDDED:
        raise ConfigError("DISPATCHER=celery: the celery dispatcher is not part of this build yet")
    dispatcher = EmbeddedDispatcher(runs, engine, settings.max_concurrent_runs)
    secret_key = settings.secret_key or load_or_create(
        settings.data_dir / "secret_key", TokenIssuer.generate_key, "token signing key"
    )
    auth = AuthService(users, TokenIssuer(secret_key, settings.access_token_minutes))
    run_service = RunService(settings, runs, pipeline_store, catalog, engine, dispatcher)

    objects = build_object_store(settings)
    uploads = UploadStore(db)
    artifacts = ArtifactStore(db)
    run_files = RunFiles(
        objects,
        artifacts,
        max_artifact_bytes=int(settings.artifacts_max_size_mb * 1024 * 1024),
        archive_logs=settings.archive_logs,
    )
    builds = BuildService(settings, uploads, objects, catalog, run_service)
    engine.resolve = builds.resolve
    engine.outputs = run_files
    monitoring = Monitoring(
        runs.count_by_status, fanout.subscriber_counts, lambda: dispatcher.running
    )
    engine.on_settled.append(monitoring.observe_finished)
    cleanup = CleanupService(
        settings, RetentionStore(db), objects, engine.log_path, engine.metrics_path
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
        run_service=run_service,
        pipeline_service=PipelineService(catalog, pipeline_store, runs),
        auth=auth,
        objects=objects,
        uploads=uploads,
        artifacts=artifacts,
        run_files=run_files,
        builds=builds,
        cleanup=cleanup,
        cleanup_loop=CleanupLoop(cleanup, settings.cleanup_interval, monitoring.health),
        monitoring=monitoring,
    )
