"""All configuration, read once from the environment and `.env` into one typed object."""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from fastflow.errors import ConfigError
from fastflow.models import Role
from fastflow.sandbox.status import SandboxMode

_ORIGIN = re.compile(r"^https?://[^/\s?#@]+$")


class ExecutorKind(StrEnum):
    LOCAL = "local"
    DOCKER = "docker"


class DispatcherKind(StrEnum):
    EMBEDDED = "embedded"
    CELERY = "celery"


class QueueFullPolicy(StrEnum):
    QUEUE = "queue"
    REJECT = "reject"


class RunsOnShutdown(StrEnum):
    CANCEL = "cancel"
    KEEP = "keep"


class WarmStart(StrEnum):
    AUTO = "auto"  # local runs fork from a warm interpreter of their environment
    OFF = "off"


class ObjectStoreKind(StrEnum):
    LOCAL = "local"
    S3 = "s3"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


class Settings(BaseSettings):
    """fastflow's configuration; one field per environment variable, with its default."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    pipelines_dir: Path = Field(default=Path("./pipelines"), validation_alias="PIPELINES_DIR")
    logs_dir: Path = Field(default=Path("./logs"), validation_alias="LOGS_DIR")
    data_dir: Path = Field(default=Path("./data"), validation_alias="DATA_DIR")
    worker_base_image: str = Field(
        default="ghcr.io/astral-sh/uv:python3.11-bookworm-slim",
        validation_alias="WORKER_BASE_IMAGE",
    )
    uv_cache_dir: Path | None = Field(default=None, validation_alias="UV_CACHE_DIR")
    uv_pre_heat: bool = Field(default=True, validation_alias="UV_PRE_HEAT")
    max_concurrent_runs: int = Field(default=10, ge=1, validation_alias="MAX_CONCURRENT_RUNS")
    container_timeout: float | None = Field(
        default=None, gt=0, validation_alias="CONTAINER_TIMEOUT"
    )
    retry_attempts: int = Field(default=0, ge=0, le=100, validation_alias="RETRY_ATTEMPTS")
    git_branch: str = Field(default="main", validation_alias="GIT_BRANCH")
    auto_sync_interval: float | None = Field(
        default=None, gt=0, validation_alias="AUTO_SYNC_INTERVAL"
    )
    log_retention_runs: int | None = Field(
        default=None, ge=1, validation_alias="LOG_RETENTION_RUNS"
    )
    log_retention_days: float | None = Field(
        default=None, gt=0, validation_alias="LOG_RETENTION_DAYS"
    )
    log_max_size_mb: float | None = Field(default=None, gt=0, validation_alias="LOG_MAX_SIZE_MB")
    log_stream_rate_limit: int = Field(default=100, ge=1, validation_alias="LOG_STREAM_RATE_LIMIT")
    encryption_key: str | None = Field(default=None, validation_alias="ENCRYPTION_KEY")
    github_app_id: str | None = Field(default=None, validation_alias="GITHUB_APP_ID")
    github_installation_id: str | None = Field(
        default=None, validation_alias="GITHUB_INSTALLATION_ID"
    )
    github_private_key_path: Path | None = Field(
        default=None, validation_alias="GITHUB_PRIVATE_KEY_PATH"
    )
    github_api_url: str = Field(default="https://api.github.com", validation_alias="GITHUB_API_URL")
    public_url: str = Field(default="http://127.0.0.1:8000", validation_alias="FASTFLOW_PUBLIC_URL")
    hook_key: str | None = Field(default=None, validation_alias="FASTFLOW_HOOK_KEY")
    webhook_max_attempts: int = Field(
        default=5, ge=1, le=50, validation_alias="WEBHOOK_MAX_ATTEMPTS"
    )
    webhook_retry_base: float = Field(
        default=10.0, gt=0, validation_alias="WEBHOOK_RETRY_BASE_SECONDS"
    )
    webhook_timeout: float = Field(default=10.0, gt=0, validation_alias="WEBHOOK_TIMEOUT")

    executor: ExecutorKind = Field(default=ExecutorKind.LOCAL, validation_alias="EXECUTOR")
    dispatcher: DispatcherKind = Field(
        default=DispatcherKind.EMBEDDED, validation_alias="DISPATCHER"
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", validation_alias="REDIS_URL")
    celery_broker_url: str | None = Field(default=None, validation_alias="CELERY_BROKER_URL")
    redis_prefix: str = Field(
        default="fastflow", min_length=1, pattern=r"^[A-Za-z0-9_.:-]+$",
        validation_alias="FASTFLOW_REDIS_PREFIX",
    )  # fmt: skip
    default_queue: str = Field(default="fastflow", min_length=1, validation_alias="CELERY_QUEUE")
    celery_visibility_timeout: float = Field(
        default=3600.0, gt=0, validation_alias="CELERY_VISIBILITY_TIMEOUT"
    )
    worker_token: str | None = Field(default=None, validation_alias="FASTFLOW_WORKER_TOKEN")
    server_url: str | None = Field(default=None, validation_alias="FASTFLOW_URL")
    worker_name: str | None = Field(default=None, validation_alias="FASTFLOW_WORKER_NAME")
    worker_heartbeat: float = Field(default=5.0, gt=0, validation_alias="WORKER_HEARTBEAT")
    worker_lost_after: float = Field(default=30.0, gt=0, validation_alias="WORKER_LOST_AFTER")
    queue_full_policy: QueueFullPolicy = Field(
        default=QueueFullPolicy.QUEUE, validation_alias="QUEUE_FULL_POLICY"
    )

    host: str = Field(default="127.0.0.1", validation_alias="FASTFLOW_HOST")
    port: int = Field(default=8000, ge=1, le=65535, validation_alias="FASTFLOW_PORT")
    admin_user: str = Field(default="admin", min_length=1, validation_alias="FASTFLOW_ADMIN_USER")
    admin_password: str | None = Field(default=None, validation_alias="FASTFLOW_ADMIN_PASSWORD")
    secret_key: str | None = Field(default=None, validation_alias="FASTFLOW_SECRET_KEY")
    access_token_minutes: int = Field(
        default=60 * 12, ge=1, validation_alias="FASTFLOW_ACCESS_TOKEN_MINUTES"
    )
    sandbox: SandboxMode = Field(default=SandboxMode.AUTO, validation_alias="FASTFLOW_SANDBOX")
    run_user: str = Field(default="nobody", min_length=1, validation_alias="FASTFLOW_RUN_USER")
    runs_on_shutdown: RunsOnShutdown = Field(
        default=RunsOnShutdown.CANCEL, validation_alias="FASTFLOW_RUNS_ON_SHUTDOWN"
    )
    cancel_grace_seconds: float = Field(
        default=10.0, ge=0, validation_alias="FASTFLOW_CANCEL_GRACE_SECONDS"
    )
    metrics_interval: float = Field(default=1.0, gt=0, validation_alias="FASTFLOW_METRICS_INTERVAL")
    warm_start: WarmStart = Field(default=WarmStart.AUTO, validation_alias="FASTFLOW_WARM_START")
    warm_max: int = Field(default=8, ge=1, le=1000, validation_alias="FASTFLOW_WARM_MAX")
    # The memory all warm interpreters of one process may hold together (None: a quarter of
    # this machine's memory).
    warm_max_memory_mb: float | None = Field(
        default=None, gt=0, validation_alias="FASTFLOW_WARM_MAX_MEMORY_MB"
    )
    max_line_bytes: int = Field(
        default=1024 * 1024, ge=1024, validation_alias="FASTFLOW_MAX_LINE_BYTES"
    )
    stream_max_per_user: int = Field(
        default=10, ge=1, validation_alias="FASTFLOW_STREAM_MAX_PER_USER"
    )
    stream_idle_timeout: float = Field(
        default=300.0, gt=0, validation_alias="FASTFLOW_STREAM_IDLE_TIMEOUT"
    )
    stream_keepalive: float = Field(
        default=15.0, gt=0, validation_alias="FASTFLOW_STREAM_KEEPALIVE"
    )
    stream_send_timeout: float = Field(
        default=30.0, gt=0, validation_alias="FASTFLOW_STREAM_SEND_TIMEOUT"
    )

    login_max_failures: int = Field(default=5, ge=1, validation_alias="FASTFLOW_LOGIN_MAX_FAILURES")
    login_max_failures_per_address: int = Field(
        default=20, ge=1, validation_alias="FASTFLOW_LOGIN_MAX_FAILURES_PER_ADDRESS"
    )
    login_window_seconds: float = Field(
        default=300.0, gt=0, validation_alias="FASTFLOW_LOGIN_WINDOW_SECONDS"
    )
    # Password login (API and console); false leaves SSO, API tokens and the break-glass admin.
    local_login: bool = Field(default=True, validation_alias="FASTFLOW_LOCAL_LOGIN")
    # OpenID Connect SSO (docs/sso.md): on when FASTFLOW_OIDC_ISSUER is set.
    oidc_issuer: str | None = Field(default=None, validation_alias="FASTFLOW_OIDC_ISSUER")
    oidc_client_id: str | None = Field(default=None, validation_alias="FASTFLOW_OIDC_CLIENT_ID")
    oidc_client_secret: str | None = Field(
        default=None, validation_alias="FASTFLOW_OIDC_CLIENT_SECRET"
    )
    oidc_scopes: str = Field(
        default="openid email profile", min_length=1, validation_alias="FASTFLOW_OIDC_SCOPES"
    )
    oidc_button_label: str = Field(
        default="Sign in with SSO",
        min_length=1,
        max_length=80,
        validation_alias="FASTFLOW_OIDC_BUTTON_LABEL",
    )
    oidc_role_claim: str | None = Field(default=None, validation_alias="FASTFLOW_OIDC_ROLE_CLAIM")
    # Comma- or space-separated lists.
    oidc_admin_groups: str = Field(default="", validation_alias="FASTFLOW_OIDC_ADMIN_GROUPS")
    oidc_operator_groups: str = Field(default="", validation_alias="FASTFLOW_OIDC_OPERATOR_GROUPS")
    oidc_default_role: Role = Field(
        default=Role.VIEWER, validation_alias="FASTFLOW_OIDC_DEFAULT_ROLE"
    )
    oidc_allowed_domains: str = Field(default="", validation_alias="FASTFLOW_OIDC_ALLOWED_DOMAINS")
    max_request_bytes: int = Field(
        default=1024 * 1024, ge=1024, validation_alias="FASTFLOW_MAX_REQUEST_BYTES"
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1", validation_alias="FASTFLOW_FORWARDED_ALLOW_IPS"
    )
    # Browser origins (scheme://host[:port]) of separate frontends that may call the API;
    # comma-separated, "*" for any. Empty (the default): no CORS headers at all.
    cors_origins: str = Field(default="", validation_alias="FASTFLOW_CORS_ORIGINS")

    # Builds, artifacts and object storage.
    object_store: ObjectStoreKind = Field(
        default=ObjectStoreKind.LOCAL, validation_alias="OBJECT_STORE"
    )
    s3_bucket: str | None = Field(default=None, validation_alias="S3_BUCKET")
    s3_endpoint_url: str | None = Field(default=None, validation_alias="S3_ENDPOINT_URL")
    s3_region: str | None = Field(default=None, validation_alias="S3_REGION")
    s3_access_key_id: str | None = Field(default=None, validation_alias="S3_ACCESS_KEY_ID")
    s3_secret_access_key: str | None = Field(default=None, validation_alias="S3_SECRET_ACCESS_KEY")
    s3_prefix: str = Field(default="", validation_alias="S3_PREFIX")
    upload_max_size_mb: float = Field(default=50, gt=0, validation_alias="UPLOAD_MAX_SIZE_MB")
    upload_max_unpacked_mb: float = Field(
        default=200, gt=0, validation_alias="UPLOAD_MAX_UNPACKED_MB"
    )
    upload_max_ratio: float = Field(default=100, ge=1, validation_alias="UPLOAD_MAX_RATIO")
    artifacts_max_size_mb: float = Field(
        default=1024, gt=0, validation_alias="ARTIFACTS_MAX_SIZE_MB"
    )
    archive_logs: bool = Field(default=False, validation_alias="ARCHIVE_LOGS")
    # Retention and monitoring.
    cleanup_interval: float = Field(default=3600, gt=0, validation_alias="CLEANUP_INTERVAL")
    metrics_token: str | None = Field(default=None, validation_alias="METRICS_TOKEN")
    log_format: LogFormat = Field(default=LogFormat.TEXT, validation_alias="LOG_FORMAT")
    # One log line per run with the wall-clock time of each stage (docs/performance.md).
    log_timings: bool = Field(default=False, validation_alias="FASTFLOW_LOG_TIMINGS")
    ui_enabled: bool = Field(default=True, validation_alias="FASTFLOW_UI")
    public_docs: bool = Field(default=False, validation_alias="FASTFLOW_PUBLIC_DOCS")
    docker_host: str | None = Field(default=None, validation_alias="DOCKER_HOST")
    health_check_interval: float = Field(
        default=30.0, gt=0, validation_alias="FASTFLOW_HEALTH_CHECK_INTERVAL"
    )
    health_timeout: float | None = Field(
        default=None, gt=0, validation_alias="FASTFLOW_HEALTH_TIMEOUT"
    )

    # Backups taken by the server itself (docs/operations.md).
    backup_interval: float | None = Field(
        default=None, gt=0, validation_alias="FASTFLOW_BACKUP_INTERVAL"
    )
    backup_dir: Path | None = Field(default=None, validation_alias="FASTFLOW_BACKUP_DIR")
    backup_keep: int = Field(default=7, ge=1, validation_alias="FASTFLOW_BACKUP_KEEP")
    backup_passphrase: SecretStr | None = Field(
        default=None, validation_alias="FASTFLOW_BACKUP_PASSPHRASE"
    )

    @field_validator("pipelines_dir", "logs_dir", "data_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("cors_origins", mode="after")
    @classmethod
    def _origins(cls, value: str) -> str:
        origins = [o.strip().rstrip("/") for o in value.replace(" ", ",").split(",")]
        origins = [o for o in origins if o]
        for origin in origins:
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(
                    f"{origin!r} is not an origin: write scheme://host[:port], e.g. "
                    "http://localhost:5173 (no path), or * for any"
                )
        return ",".join(origins)

    @property
    def cors_origin_list(self) -> list[str]:
        """The origins FASTFLOW_CORS_ORIGINS allows (empty: none)."""
        return [o for o in self.cors_origins.split(",") if o]

    @field_validator("database_url", mode="after")
    @classmethod
    def _normalise_db_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        # Plain postgres URLs mean the psycopg 3 driver we ship, not psycopg2.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, SQLite under DATA_DIR unless DATABASE_URL says otherwise."""
        return self.database_url or f"sqlite:///{self.data_dir / 'fastflow.db'}"

    @property
    def broker_url(self) -> str:
        """Celery's broker: CELERY_BROKER_URL, else REDIS_URL."""
        return self.celery_broker_url or self.redis_url

    @property
    def bundles_dir(self) -> Path:
        """Content-addressed pipeline bundles (built on the server, cached on workers)."""
        return self.data_dir / "bundles"

    @property
    def resolved_uv_cache_dir(self) -> Path:
        return (self.uv_cache_dir or self.data_dir / "uv_cache").expanduser().resolve()

    @property
    def envs_dir(self) -> Path:
        """Where resolved pipeline environments live, one per requirements hash."""
        return self.data_dir / "envs"

    @property
    def objects_dir(self) -> Path:
        """The local object store (uploads, artifacts, archived logs) when OBJECT_STORE=local."""
        return self.data_dir / "objects"

    @property
    def uploads_dir(self) -> Path:
        """Unpacked upload sources, materialised from the object store for runs."""
        return self.data_dir / "uploads"

    @property
    def resolved_backup_dir(self) -> Path:
        """Where scheduled backups go: FASTFLOW_BACKUP_DIR, else DATA_DIR/backups."""
        return (self.backup_dir or self.data_dir / "backups").expanduser().resolve()

    @property
    def work_dir(self) -> Path:
        """Per-run working directories."""
        return self.data_dir / "runs"


def load_settings(**overrides: Any) -> Settings:
    """Read settings; invalid values raise ConfigError with one line per bad variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"]) or "configuration"
            got = err.get("input")
            shown = "" if isinstance(got, dict) else f" (got {got!r})"
            lines.append(f"invalid configuration: {name.upper()}: {err['msg']}{shown}")
        raise ConfigError("\n".join(lines)) from None
