"""API request and response shapes; separate from the tables so no internal column leaks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fastflow.models import Role
from fastflow.pipelines.service import PipelineView
from fastflow.records import ApiToken, Run, User
from fastflow.secrets.service import PlainEntry


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1024)


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105  (the scheme, not a secret)
    expires_at: datetime
    username: str
    role: str
    csrf_token: str = Field(description="echo in X-CSRF-Token for cookie-authenticated writes")


class UserOut(BaseModel):
    username: str
    role: str


class UserDetail(BaseModel):
    username: str
    role: str
    disabled: bool
    sso: bool = Field(description="signs in through the identity provider (no password)")
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserDetail:
        return cls(
            username=user.username,
            role=user.role,
            disabled=user.disabled,
            sso=user.is_sso,
            created_at=user.created_at,
            last_login_at=user.last_login_at,
        )


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=150, pattern=r"^[^\x00-\x1f/]+$")
    password: str = Field(min_length=8, max_length=1024)
    role: Role = Role.VIEWER


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: Role | None = None
    disabled: bool | None = None


class ApiTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    role: Role | None = Field(default=None, description="at most yours; default yours")
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class ApiTokenOut(BaseModel):
    id: str
    name: str
    username: str
    role: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: ApiToken, username: str) -> ApiTokenOut:
        return cls(
            id=row.id,
            name=row.name,
            username=username,
            role=row.role,
            prefix=row.prefix,
            created_at=row.created_at,
            expires_at=row.expires_at,
            last_used_at=row.last_used_at,
            revoked_at=row.revoked_at,
        )


class ApiTokenCreated(ApiTokenOut):
    token: str = Field(description="the token itself: shown this once, store it now")


class SecretOut(BaseModel):
    key: str
    value: str | None = Field(description="null for secrets unless you are an admin")
    is_secret: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, entry: PlainEntry, reveal: bool) -> SecretOut:
        return cls(
            key=entry.key,
            value=entry.value if reveal or not entry.is_secret else None,
            is_secret=entry.is_secret,
            created_at=entry.row.created_at,
            updated_at=entry.row.updated_at,
        )


class RunCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    parameters: dict[str, Any] = Field(default_factory=dict, max_length=200)


class RunOut(BaseModel):
    id: str
    pipeline_name: str
    status: str
    failure_kind: str | None
    error_message: str | None
    trigger: str
    attempt: int
    max_attempts: int
    parent_run_id: str | None
    schedule_id: str | None
    triggered_by: str | None
    executor: str
    worker: str | None  # who executed it: the server (embedded) or a `fastflow worker` id
    parameters: dict[str, Any]
    env_vars: dict[str, Any]
    exit_code: int | None
    uv_version: str | None
    setup_duration: float | None
    progress: int | None
    progress_text: str | None
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    source: str | None = None
    status_url: str
    logs_url: str
    events_url: str
    artifacts_url: str

    @classmethod
    def of(cls, run: Run) -> RunOut:
        duration = None
        if run.started_at and run.finished_at:
            duration = round((run.finished_at - run.started_at).total_seconds(), 3)
        fields = run.model_dump(exclude={"pid", "log_file", "metrics_file", "last_seq"})
        return cls(
            **fields,
            duration_seconds=duration,
            status_url=f"/api/runs/{run.id}",
            logs_url=f"/api/runs/{run.id}/logs",
            events_url=f"/api/runs/{run.id}/events",
            artifacts_url=f"/api/runs/{run.id}/artifacts",
        )


class RunPage(BaseModel):
    items: list[RunOut]
    total: int
    limit: int
    offset: int


class RunSummary(BaseModel):
    id: str
    status: str
    created_at: datetime
    finished_at: datetime | None


class PipelineStats(BaseModel):
    total_runs: int
    successful_runs: int
    failed_runs: int
    success_rate: float | None
    stats_reset_at: datetime | None


class PipelineLimits(BaseModel):
    cpu_hard_limit: float | None
    mem_hard_limit: str | int | None
    cpu_soft_limit: float | None
    mem_soft_limit: str | int | None
    timeout: float | None


class PipelineOut(BaseModel):
    name: str
    kind: str
    description: str | None
    valid: bool
    error: str | None
    enabled: bool
    has_requirements: bool
    last_cache_warmup: datetime | None
    cache_status: str | None = Field(
        default=None, description="cached | warming | failed | not cached (None: no deps)"
    )
    cache_warmup_error: str | None = None
    executor: str | None
    retries: int | None
    limits: PipelineLimits
    parameters: dict[str, Any]
    tags: list[str]
    stats: PipelineStats
    running_runs: int
    last_run: RunSummary | None
    warnings: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, view: PipelineView) -> PipelineOut:
        d, row, cfg = view.definition, view.row, view.definition.config
        last = view.last_run
        return cls(
            name=d.name,
            kind=d.kind,
            description=cfg.description,
            valid=d.valid,
            error=d.error,
            enabled=view.enabled,
            has_requirements=d.has_requirements,
            last_cache_warmup=row.last_cache_warmup,
            cache_status=view.cache_status,
            cache_warmup_error=row.cache_warmup_error,
            executor=cfg.executor,
            retries=cfg.retries,
            limits=PipelineLimits(
                cpu_hard_limit=cfg.cpu_hard_limit,
                mem_hard_limit=cfg.mem_hard_limit,
                cpu_soft_limit=cfg.cpu_soft_limit,
                mem_soft_limit=cfg.mem_soft_limit,
                timeout=cfg.timeout,
            ),
            parameters={k: v.model_dump() for k, v in cfg.parameters.items()},
            tags=cfg.tags,
            stats=stats_of(view),
            running_runs=view.running,
            last_run=RunSummary(
                id=last.id,
                status=last.status,
                created_at=last.created_at,
                finished_at=last.finished_at,
            )
            if last
            else None,
        )


def stats_of(view: PipelineView) -> PipelineStats:
    row = view.row
    rate = round(row.successful_runs / row.total_runs, 4) if row.total_runs else None
    return PipelineStats(
        total_runs=row.total_runs,
        successful_runs=row.successful_runs,
        failed_runs=row.failed_runs,
        success_rate=rate,
        stats_reset_at=row.stats_reset_at,
    )


class SandboxOut(BaseModel):
    """How runs of this process (the server, or a worker) are contained."""

    mode: str  # FASTFLOW_SANDBOX: auto, required or off
    sandboxed: bool  # runs started here run in the sandbox
    landlock_abi: int  # the kernel's Landlock ABI (0: none)
    run_user: str | None  # the OS user runs become (when fastflow runs as root)
    network_control: bool  # pipeline.json "network": false can be enforced
    detail: str  # one sentence for people


class HealthOut(BaseModel):
    status: str
    version: str
    database: str
    running_runs: int
    redis: str | None = None  # "ok" or why not, with DISPATCHER=celery; None otherwise
    sandbox: SandboxOut


class WorkerOut(BaseModel):
    """A `fastflow worker` process, from its last heartbeat."""

    id: str
    host: str
    pid: int
    queues: list[str]
    concurrency: int
    running_runs: list[str]
    started_at: float
    last_heartbeat: float
    sandbox: SandboxOut | None = None  # None: a worker of an older version
