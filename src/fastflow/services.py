"""Builds fastflow's parts from settings — the one place implementations are chosen."""

from __future__ import annotations

import asyncio
import logging
import secrets
from dataclasses import dataclass
from functools import partial

from fastflow.artifacts.keeper import RunFiles
from fastflow.auth.oidc_setup import OidcService, oidc_from_settings
from fastflow.auth.service import AuthService
from fastflow.auth.throttle import LoginThrottle
from fastflow.auth.tokens import TokenIssuer
from fastflow.backup.schedule import BackupLoop, scheduled_backups
from fastflow.backup.status import BackupCollector, BackupStatus
from fastflow.builds.service import BuildService
from fastflow.builds.source import BuildSource
from fastflow.dispatch.embedded import EmbeddedDispatcher
from fastflow.dispatch.remote_runs import RemoteRuns, run_secrets
from fastflow.events.connections import StreamRegistry
from fastflow.events.fanout import EventFanout
from fastflow.events.memory_fanout import MemoryFanout
from fastflow.executors.docker_paths import INSTANCE_LABEL
from fastflow.executors.local import LocalExecutor
from fastflow.executors.missing import docker_executor
from fastflow.executors.run_sandbox import RunSandbox, log_sandbox, prepare_host
from fastflow.executors.uv_env import EnvironmentCache
from fastflow.executors.warm.collector import WarmCollector
from fastflow.executors.warm.hook import pre_heat_here
from fastflow.executors.warm.pool import WarmPool
from fastflow.extras import check_settings
from fastflow.gitsync.github_app import github_app_from_settings
from fastflow.gitsync.preheat import Preheater
from fastflow.gitsync.removals import PipelineRemovals, RemovalWatch
from fastflow.gitsync.repo import GitRepo
from fastflow.gitsync.service import SyncService
from fastflow.gitsync.settings import SyncDefaults, SyncSettings
from fastflow.keyfile import load_or_create
from fastflow.monitoring.prometheus import Monitoring
from fastflow.pipelines.discovery import PipelineCatalog
from fastflow.pipelines.service import PipelineService
from fastflow.retention.cleanup import CleanupLoop, CleanupService
from fastflow.runs.engine import RunEngine
from fastflow.runs.execution import RunExecution
from fastflow.runs.logs import RunLogs
from fastflow.runs.ports import Dispatcher, Executor
from fastflow.runs.recovery import Recovery
from fastflow.runs.server_place import ServerPlace
from fastflow.runs.service import RunService
from fastflow.runs.settlement import Settlement
from fastflow.sandbox.status import SandboxStatus, probe
from fastflow.scheduler.service import SchedulerService
from fastflow.secrets.crypto import load_cipher
from fastflow.secrets.service import SecretService
from fastflow.secrets.store import SecretStore
from fastflow.settings import DispatcherKind, RunsOnShutdown, Settings
from fastflow.storage.artifact_store import ArtifactStore
from fastflow.storage.database import Database
from fastflow.storage.objects import ObjectStore, build_object_store
from fastflow.storage.pipeline_store import PipelineStore
from fastflow.storage.retention_store import RetentionStore
from fastflow.storage.run_store import RunStore
from fastflow.storage.schedule_store import ScheduleStore
from fastflow.storage.sync_settings_store import SyncSettingsStore
from fastflow.storage.token_store import TokenStore
from fastflow.storage.upload_store import UploadStore
from fastflow.storage.user_store import UserStore
from fastflow.storage.webhook_store import WebhookStore
from fastflow.webhooks.inbound import InboundHooks, generate_key
from fastflow.webhooks.outbound import OutboundWebhooks

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
    logs: RunLogs
    settlement: Settlement
    executors: dict[str, Executor]
    engine: RunEngine
    recovery: Recovery
    dispatcher: Dispatcher
    remote_runs: RemoteRuns
    run_service: RunService
    pipeline_service: PipelineService
    auth: AuthService
    oidc: OidcService | None
    secrets: SecretService
    streams: StreamRegistry
    schedules: ScheduleStore
    scheduler: SchedulerService
    webhook_store: WebhookStore
    inbound_hooks: InboundHooks
    outbound: OutboundWebhooks
    preheater: Preheater
    sync: SyncService
    sync_settings: SyncSettings

    objects: ObjectStore
    uploads: UploadStore
    artifacts: ArtifactStore
    run_files: RunFiles
    builds: BuildService
    cleanup: CleanupService
    cleanup_loop: CleanupLoop
    removal_watch: RemovalWatch
    monitoring: Monitoring
    worker_token: str
    sandbox: SandboxStatus
    warm: WarmPool  # the local executor's warm interpreters
    sandbox_warnings: list[str]
    backup_status: BackupStatus
    backup_loop: BackupLoop | None

    def database_answers(self) -> bool:
        """Whether the database answers a query now (health checks)."""
        return self.db.ping()

    def preflight(self) -> None:
        """Migrate and check the encryption key fits the stored secrets (else ConfigError)."""
        self.db.migrate()
        self.secrets.verify_key()

    async def start(self) -> None:
        """Migrate, settle what a previous server left running, then start dispatching."""
        self.objects.check()
        self.preflight()
        log_sandbox(self.sandbox, self.sandbox_warnings)
        self.auth.ensure_admin(self.settings.admin_user, self.settings.admin_password)
        # Started first so deliveries for runs settled by recovery are sent.
        await self.outbound.start()
        # Remote runs outlive a server restart (their workers keep going): only runs this
        # process executed itself can have been left behind.
        if self.settings.dispatcher is DispatcherKind.EMBEDDED:
            settled = await self.recovery.recover()
            if settled:
                log.warning("settled %d run(s) left RUNNING by a previous server", settled)
        await self.dispatcher.start()
        await self.scheduler.start()
        self.monitoring.health.report("scheduler", ok=True)
        await self.cleanup_loop.start()
        await self.removal_watch.start()
        # Branch, auto-sync and pre-heat as stored by an admin, else the environment's.
        await self.sync_settings.apply(at_start=True)
        if self.backup_loop is not None:
            await self.backup_loop.start()

    async def stop(self) -> None:
        if self.backup_loop is not None:
            await self.backup_loop.stop()
        await self.cleanup_loop.stop()
        await self.removal_watch.stop()
        await self.sync_settings.stop()
        await self.scheduler.stop()
        self.monitoring.health.report("scheduler", ok=False, detail="stopped")
        await self.preheater.stop()
        await self.dispatcher.stop()
        await self.recovery.stop()
        for executor in self.executors.values():
            await asyncio.to_thread(executor.close)
        await asyncio.to_thread(self.warm.close)
        await self.outbound.stop()
        self.db.dispose()


def _executors(
    settings: Settings, envs: EnvironmentCache, sandbox: RunSandbox, warm: WarmPool
) -> dict[str, Executor]:
    local = LocalExecutor(
        envs,
        cancel_grace=settings.cancel_grace_seconds,
        metrics_interval=settings.metrics_interval,
        max_line_bytes=settings.max_line_bytes,
        supervise_in=settings.work_dir,
        sandbox=sandbox,
        health_timeout=settings.health_timeout,
        warm=warm,
    )
    # Always there, so a pipeline.json `"executor": "docker"` works under EXECUTOR=local too;
    # it connects on first use (an engine that is down fails runs, never the server's start);
    # its containers carry this server's instance id (two servers on one engine sweep only
    # their own). Without the docker extra its runs fail with the `pip install` to do.
    instance = load_or_create(
        settings.data_dir / "instance_id", lambda: secrets.token_hex(8), "server instance id"
    )
    return {"local": local, "docker": docker_executor(settings, {INSTANCE_LABEL: instance})}


def build_services(settings: Settings, sandbox: SandboxStatus | None = None) -> Services:
    """Wire every part for `settings`; nothing starts until `Services.start()`.

    `sandbox`: what the kernel offers runs, probed here unless given (tests give one that
    stands for another kernel). MissingExtraError when `settings` needs an extra that is not
    installed."""
    check_settings(settings)
    sandbox = sandbox or probe(settings.sandbox, settings.run_user)
    plan = prepare_host(
        sandbox,
        settings.data_dir,
        settings.logs_dir,
        [settings.work_dir, settings.uploads_dir, settings.bundles_dir],
        settings.pipelines_dir,
    )
    sandbox = plan.status
    db = Database(settings.sqlalchemy_url)
    runs = RunStore(db)
    pipeline_store = PipelineStore(db)
    users = UserStore(db)
    catalog = PipelineCatalog(settings.pipelines_dir)
    fanout = MemoryFanout()
    secrets = SecretService(SecretStore(db), load_cipher(settings))
    envs = EnvironmentCache(
        settings.envs_dir, settings.resolved_uv_cache_dir, base_python=plan.python
    )
    objects = build_object_store(settings)
    uploads = UploadStore(db)
    artifacts = ArtifactStore(db)
    run_files = RunFiles(
        objects,
        artifacts,
        max_artifact_bytes=int(settings.artifacts_max_size_mb * 1024 * 1024),
        archive_logs=settings.archive_logs,
    )
    max_mb = settings.log_max_size_mb
    logs = RunLogs(
        settings.logs_dir,
        fanout,
        max_log_bytes=int(max_mb * 1024 * 1024) if max_mb else None,
        outputs=run_files,
    )
    settlement = Settlement(runs, logs)
    warm = WarmPool.from_settings(settings)
    run_sandbox = RunSandbox(sandbox, settings.resolved_uv_cache_dir)
    executors = _executors(settings, envs, run_sandbox, warm)
    build_source = BuildSource(settings, uploads, objects, catalog)
    place = ServerPlace(build_source, executors, settings.executor.value, secrets, runs)
    execution = RunExecution(
        place,
        run_files,
        settings.work_dir,
        logs.metrics_path,
        default_timeout=settings.container_timeout,
    )
    engine = RunEngine(
        runs,
        logs,
        execution,
        settlement,
        executors,
        outputs=run_files,
        keep_on_shutdown=settings.runs_on_shutdown is RunsOnShutdown.KEEP,
        log_timings=settings.log_timings,
    )
    worker_token = settings.worker_token or load_or_create(
        settings.data_dir / "worker_token", TokenIssuer.generate_key, "worker token"
    )
    dispatcher: Dispatcher
    if settings.dispatcher is DispatcherKind.CELERY:
        from fastflow.dispatch.celery_dispatcher import CeleryDispatcher  # celery only if used

        secrets_of = partial(run_secrets, place)  # as the worker route gives them
        dispatcher = CeleryDispatcher(
            settings, runs, catalog, settlement, logs, fanout, secrets_of, worker_token
        )
        dispatcher.read_secrets_once = secrets.read_once  # a batch's secrets from one read
    else:
        dispatcher = EmbeddedDispatcher(runs, engine, settings.max_concurrent_runs)
    secret_key = settings.secret_key or load_or_create(
        settings.data_dir / "secret_key", TokenIssuer.generate_key, "token signing key"
    )
    throttle = LoginThrottle(
        settings.login_max_failures,
        settings.login_max_failures_per_address,
        settings.login_window_seconds,
    )
    tokens = TokenIssuer(secret_key, settings.access_token_minutes)
    auth = AuthService(users, tokens, TokenStore(db), throttle, local_login=settings.local_login)
    run_service = RunService(
        settings, runs, pipeline_store, catalog, engine, dispatcher, settlement, logs
    )
    # The retry policy first: a failed run's next attempt is queued before anyone hears of it.
    settlement.subscribe(run_service.attempts.retry_failed)
    preheater = Preheater(envs, pipeline_store, pre_heat_here(settings, executors["local"]))
    pipeline_service = PipelineService(
        catalog, pipeline_store, runs, preheater.status, preheater.snapshot
    )
    schedules = ScheduleStore(db)
    scheduler = SchedulerService(schedules, runs, run_service, catalog, pipeline_store)
    hook_key = settings.hook_key or load_or_create(
        settings.data_dir / "hook_key", generate_key, "webhook key"
    )
    webhook_store = WebhookStore(db)
    outbound = OutboundWebhooks(
        webhook_store,
        hook_key,
        settings.public_url,
        max_attempts=settings.webhook_max_attempts,
        retry_base=settings.webhook_retry_base,
        timeout=settings.webhook_timeout,
    )
    settlement.subscribe(outbound.run_finished)
    settlement.subscribe(scheduler.run_finished)
    removals = PipelineRemovals(runs, run_service, scheduler)
    sync = SyncService(
        GitRepo(settings.pipelines_dir),
        settings.git_branch,
        settings.data_dir / "sync_status.json",
        refresh=lambda: {v.definition.name: v.definition for v in pipeline_service.list()},
        removed=removals.handle,
        preheater=preheater if settings.uv_pre_heat else None,
        github=github_app_from_settings(settings),
    )
    builds = BuildService(build_source, uploads, objects, catalog, run_service)
    monitoring = Monitoring(
        runs.count_by_status, fanout.subscriber_counts, lambda: dispatcher.running
    )
    settlement.subscribe(monitoring.observe_finished)
    backup_status, backup_loop = scheduled_backups(settings, monitoring.health)
    monitoring.registry.register(BackupCollector(backup_status))
    monitoring.registry.register(WarmCollector(warm))
    cleanup = CleanupService(
        settings,
        RetentionStore(db),
        objects,
        logs.log_path,
        logs.metrics_path,
        containers=lambda statuses, dry_run: [
            name for e in executors.values() for name in e.sweep(statuses, dry_run)
        ],
    )
    remote_runs = RemoteRuns(
        dispatcher,
        runs,
        place,
        objects,
        artifacts,
        max_artifact_bytes=int(settings.artifacts_max_size_mb * 1024 * 1024),
        tmp_dir=settings.data_dir / "tmp",
    )
    return Services(
        settings=settings,
        db=db,
        runs=runs,
        pipeline_store=pipeline_store,
        users=users,
        catalog=catalog,
        fanout=fanout,
        logs=logs,
        settlement=settlement,
        executors=executors,
        engine=engine,
        recovery=Recovery(engine, settlement, executors),
        dispatcher=dispatcher,
        remote_runs=remote_runs,
        run_service=run_service,
        pipeline_service=pipeline_service,
        auth=auth,
        oidc=oidc_from_settings(settings, auth, tokens),
        secrets=secrets,
        streams=StreamRegistry(settings.stream_max_per_user),
        schedules=schedules,
        scheduler=scheduler,
        webhook_store=webhook_store,
        inbound_hooks=InboundHooks(webhook_store, hook_key),
        outbound=outbound,
        preheater=preheater,
        sync=sync,
        sync_settings=SyncSettings(
            SyncSettingsStore(db),
            sync,
            SyncDefaults(settings.git_branch, settings.auto_sync_interval, settings.uv_pre_heat),
            preheater,
            monitoring.health,
        ),
        objects=objects,
        uploads=uploads,
        artifacts=artifacts,
        run_files=run_files,
        builds=builds,
        cleanup=cleanup,
        cleanup_loop=CleanupLoop(cleanup, settings.cleanup_interval, monitoring.health),
        removal_watch=RemovalWatch(removals, runs, catalog, health=monitoring.health),
        monitoring=monitoring,
        worker_token=worker_token,
        sandbox=sandbox,
        warm=warm,
        sandbox_warnings=plan.warnings,
        backup_status=backup_status,
        backup_loop=backup_loop,
    )
