"""API request and response shapes; separate from the tables so no internal column leaks."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from fastflow.pipelines.service import PipelineView
from fastflow.storage.tables import Run


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


class UserOut(BaseModel):
    username: str
    role: str


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
    status_url: str
    logs_url: str
    events_url: str

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
    executor: str | None
    retries: int | None
    limits: PipelineLimits
    parameters: dict[str, Any]
    tags: list[str]
    stats: PipelineStats
    running_runs: int
    last_run: RunSummary | None

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


class HealthOut(BaseModel):
    status: str
    version: str
    database: str
    running_runs: int
    redis: str | None = None  # "ok" or why not, with DISPATCHER=celery; None otherwise


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
