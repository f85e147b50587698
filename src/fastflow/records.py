"""The records fastflow keeps, as typed rows (SQLModel tables), and how runs are queried.

The data of the domain: stores in `fastflow.storage` are the only code that reads or writes
them in the database; everything above gets them from a service. API shapes live in
`fastflow.api.schemas`, so no internal column leaks."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.types import TypeDecorator
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC without zone (portable across SQLite/PostgreSQL), always returns aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def _ts(nullable: bool = True, index: bool = False) -> Any:
    return Field(default=None, sa_type=UTCDateTime, nullable=nullable, index=index)


def _json() -> Any:
    return Field(default_factory=dict, sa_type=sa.JSON, nullable=False)


class Pipeline(SQLModel, table=True):
    """Per-pipeline state that discovery cannot derive from files: stats, enabled flag, cache."""

    __tablename__ = "pipelines"

    name: str = Field(primary_key=True, max_length=200)
    enabled: bool = Field(default=True)
    has_requirements: bool = Field(default=False)
    last_cache_warmup: datetime | None = _ts()
    cache_warmup_error: str | None = Field(default=None, sa_type=sa.Text)
    total_runs: int = Field(default=0)
    successful_runs: int = Field(default=0)
    failed_runs: int = Field(default=0)
    stats_reset_at: datetime | None = _ts()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class Run(SQLModel, table=True):
    """One execution of a pipeline with its outcome, limits and where it ran."""

    __tablename__ = "runs"
    __table_args__ = (
        # `id` closes each index because listings order by (created_at, id): the index then
        # gives the page order directly, no sort of every matching row (see bench/listing).
        sa.Index("ix_runs_pipeline_created", "pipeline_name", "created_at", "id"),
        sa.Index("ix_runs_status_created", "status", "created_at", "id"),
        sa.Index("ix_runs_created_id", "created_at", "id"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    pipeline_name: str = Field(max_length=200)
    status: str = Field(default="PENDING", max_length=16)
    failure_kind: str | None = Field(default=None, max_length=32)
    error_message: str | None = Field(default=None, sa_type=sa.Text)
    trigger: str = Field(default="api", max_length=16)
    attempt: int = Field(default=1)
    max_attempts: int = Field(default=1)
    parent_run_id: str | None = Field(default=None, max_length=32, index=True)
    schedule_id: str | None = Field(default=None, max_length=32)
    triggered_by: str | None = Field(default=None, max_length=200)
    executor: str = Field(default="local", max_length=16)
    parameters: dict[str, Any] = _json()
    env_vars: dict[str, Any] = _json()
    log_file: str | None = Field(default=None, sa_type=sa.Text)
    metrics_file: str | None = Field(default=None, sa_type=sa.Text)
    exit_code: int | None = Field(default=None)
    uv_version: str | None = Field(default=None, max_length=64)
    setup_duration: float | None = Field(default=None)
    progress: int | None = Field(default=None)
    progress_text: str | None = Field(default=None, max_length=500)
    pid: int | None = Field(default=None)
    worker: str | None = Field(default=None, max_length=200)
    cancel_requested: bool = Field(default=False)
    last_seq: int = Field(default=0)
    # Where the code comes from when not PIPELINES_DIR: "upload:<upload id>" for builds.
    source: str | None = Field(default=None, max_length=300, index=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )
    started_at: datetime | None = _ts()
    finished_at: datetime | None = _ts()


class Schedule(SQLModel, table=True):
    """A cron or interval trigger for a pipeline."""

    __tablename__ = "schedules"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    pipeline_name: str = Field(max_length=200, index=True)
    trigger_type: str = Field(max_length=16)
    trigger_value: str = Field(max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    parameters: dict[str, Any] = _json()
    enabled: bool = Field(default=True)
    last_run_at: datetime | None = _ts()
    next_run_at: datetime | None = _ts()
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # "skip" | "queue"; None follows the pipeline's `overlap` (pipeline.json, default skip).
    overlap_policy: str | None = Field(default=None, max_length=16)
    misfire_grace_seconds: int = Field(default=300)
    last_run_id: str | None = Field(default=None, max_length=32)
    # What the last tick did: started | skipped | queued | missed | error, and why.
    last_outcome: str | None = Field(default=None, max_length=16)
    last_message: str | None = Field(default=None, sa_type=sa.Text)
    skipped_count: int = Field(default=0)
    # A tick held back by the "queue" overlap policy, started when the active run ends.
    queued_at: datetime | None = _ts()


class Secret(SQLModel, table=True):
    """A secret (Fernet-encrypted value) or plain parameter injected into runs."""

    __tablename__ = "secrets"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    key: str = Field(max_length=200, unique=True)
    value: str = Field(sa_type=sa.Text)
    is_secret: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class User(SQLModel, table=True):
    __tablename__ = "users"
    # An SSO account is found by its provider's (issuer, subject), never by its name.
    __table_args__ = (
        sa.UniqueConstraint("sso_issuer", "sso_subject", name="uq_users_sso_identity"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    username: str = Field(max_length=150, unique=True)
    # None: no password (an SSO account), password login never succeeds.
    password_hash: str | None = Field(default=None, sa_type=sa.Text, nullable=True)
    role: str = Field(default="viewer", max_length=16)
    disabled: bool = Field(default=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_login_at: datetime | None = _ts()
    # Sessions and API tokens made before this no longer work (password, role or status
    # changed); re-enabling an account does not revive them.
    sessions_valid_after: datetime | None = _ts()
    # Set for accounts made by (or linked to) OpenID Connect SSO.
    sso_issuer: str | None = Field(default=None, max_length=500)
    sso_subject: str | None = Field(default=None, max_length=255)
    # The one admin whose password still works when FASTFLOW_LOCAL_LOGIN=false (set by the CLI).
    break_glass: bool = Field(default=False)

    @property
    def is_sso(self) -> bool:
        return self.sso_subject is not None


class ApiToken(SQLModel, table=True):
    """A long-lived token for scripts and CI; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(max_length=32, index=True)
    name: str = Field(max_length=100)
    role: str = Field(max_length=16)
    token_hash: str = Field(max_length=64, unique=True)
    prefix: str = Field(max_length=16)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    expires_at: datetime | None = _ts()
    last_used_at: datetime | None = _ts()
    revoked_at: datetime | None = _ts()


class RevokedToken(SQLModel, table=True):
    """A signed-in session (JWT `jti`) ended by logout before it expired."""

    __tablename__ = "revoked_tokens"

    jti: str = Field(primary_key=True, max_length=64)
    expires_at: datetime = Field(sa_type=UTCDateTime, nullable=False, index=True)


class InboundHook(SQLModel, table=True):
    """A per-target secret for `POST /api/hooks/{pipeline}` (target "pipeline:<name>") or the
    sync hook (target "sync"). The token itself is never stored: it is derived from the
    server's hook key and `salt`, so a leaked database alone does not reveal it."""

    __tablename__ = "inbound_hooks"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    target: str = Field(max_length=220, unique=True)
    salt: str = Field(max_length=64)
    created_by: str | None = Field(default=None, max_length=150)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_used_at: datetime | None = _ts()


class OutboundWebhook(SQLModel, table=True):
    """A URL notified when a run finishes: for one pipeline, or all when pipeline_name is None."""

    __tablename__ = "outbound_webhooks"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    url: str = Field(max_length=2000)
    pipeline_name: str | None = Field(default=None, max_length=200, index=True)
    salt: str = Field(max_length=64)
    enabled: bool = Field(default=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class WebhookDelivery(SQLModel, table=True):
    """One notification of one run to one webhook, with its attempts."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    webhook_id: str = Field(max_length=32, index=True)
    run_id: str = Field(max_length=32)
    event: str = Field(max_length=32)
    payload: dict[str, Any] = _json()
    status: str = Field(default="pending", max_length=16)  # pending | delivered | failed
    attempts: int = Field(default=0)
    next_attempt_at: datetime | None = _ts()
    last_status_code: int | None = Field(default=None)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    delivered_at: datetime | None = _ts()


class Upload(SQLModel, table=True):
    """An uploaded source (`.py` or `.zip`) that runs as an ad-hoc pipeline — a "build"."""

    __tablename__ = "uploads"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=200, index=True)
    filename: str = Field(max_length=255)
    kind: str = Field(max_length=8)  # "py" | "zip"
    size: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    source_key: str = Field(sa_type=sa.Text)
    uploaded_by: str | None = Field(default=None, max_length=150)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )


class SyncSettingsRow(SQLModel, table=True):
    """Git sync settings an admin set in the console or API (one row, id 1); a NULL column
    means "the environment's value" (GIT_BRANCH, AUTO_SYNC_INTERVAL, UV_PRE_HEAT)."""

    __tablename__ = "sync_settings"

    id: int = Field(default=1, primary_key=True)
    branch: str | None = Field(default=None, max_length=200)
    auto_sync_interval: float | None = Field(default=None)  # 0: off
    pre_heat: bool | None = Field(default=None)
    updated_by: str | None = Field(default=None, max_length=150)
    updated_at: datetime | None = _ts()


class Artifact(SQLModel, table=True):
    """A file a run wrote under FASTFLOW_ARTIFACTS_DIR, kept in the object store."""

    __tablename__ = "artifacts"

    run_id: str = Field(primary_key=True, max_length=32)
    path: str = Field(primary_key=True, max_length=1024)
    size: int = Field(sa_type=sa.BigInteger)
    sha256: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


@dataclass(frozen=True)
class RunFilter:
    """Which runs a listing wants (every field optional)."""

    pipeline: str | None = None
    statuses: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    parent_run_id: str | None = None
    schedule_id: str | None = None
