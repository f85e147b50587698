"""The local executor's branch point: fork this run from a warm interpreter, or start it cold."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastflow.executors.run_sandbox import PreparedRun, RunSandbox
from fastflow.executors.warm.client import WarmTarget
from fastflow.executors.warm.pool import WarmPool, WarmRequest
from fastflow.executors.warm.spawn import base_policy
from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.runs.ports import RunSpec
from fastflow.sandbox.policy import build_policy
from fastflow.settings import DispatcherKind, ExecutorKind, Settings


def warm_target(
    pool: WarmPool | None, spec: RunSpec, python: Path, prepared: PreparedRun
) -> tuple[WarmTarget | None, str | None]:
    """The warm interpreter this run forks from, or None and why it starts cold (None: warm
    starts are switched off, nothing to say). Blocking: a worker thread's."""
    if pool is None or not pool.enabled:
        return None, None
    policy = prepared.policy
    work_root = spec.work_dir.parent.parent
    request = WarmRequest(
        pipeline=spec.pipeline.name,
        python=python,
        env_dir=python.parent.parent,
        preload=tuple(spec.pipeline.config.preload),
        policy=base_policy(policy, work_root) if policy is not None else None,
    )
    found = pool.lease(request)
    if isinstance(found, str):
        return None, found
    return found, None


def pre_heat_here(
    settings: Settings, local: object
) -> Callable[[PipelineDefinition], Awaitable[None]] | None:
    """What pre-heat calls once an environment is built: the local executor's `warm_up`,
    on a server whose runs execute here, locally (None elsewhere)."""
    here = settings.dispatcher is DispatcherKind.EMBEDDED
    here = here and settings.executor is ExecutorKind.LOCAL
    warm_up = getattr(local, "warm_up", None)
    return warm_up if here and callable(warm_up) else None


async def pre_heat(
    pool: WarmPool | None,
    sandbox: RunSandbox | None,
    pipeline: PipelineDefinition,
    python: Path,
    work_root: Path,
) -> None:
    """Start the pipeline's warm interpreter before its first run (its environment is built):
    the same one its runs would start, so they find it."""
    if pool is None or not pool.enabled or pipeline.config.executor == "docker":
        return
    policy = None
    status = sandbox.status if sandbox is not None else None
    if sandbox is not None and status is not None and status.active:
        user = status.run_user
        run_policy = build_policy(
            abi=status.landlock_abi,
            env_dir=python.parent.parent,
            python=python,
            code=pipeline.path,
            writable=[],
            uv_cache=sandbox.uv_cache,
            network=True,
            uid=user.uid if user else None,
            gid=user.gid if user else None,
        )
        policy = base_policy(run_policy, work_root)
    request = WarmRequest(
        pipeline.name, python, python.parent.parent, tuple(pipeline.config.preload), policy
    )
    await asyncio.to_thread(pool.lease, request)


def record_start(pool: WarmPool | None, spec: RunSpec, start: str | None, why: str | None) -> None:
    """Say how the run started, for the console's pipeline page and /metrics."""
    if pool is None:
        return
    if not pool.enabled:
        pool.record(spec.pipeline.name, "cold", "warm starts are off (FASTFLOW_WARM_START=off)")
        return
    preload = ", ".join(spec.pipeline.config.preload) or "nothing"
    if start == "warm":
        why = f"forked from a warm interpreter (preload: {preload})"
        pool.record(spec.pipeline.name, "warm", why)
    else:
        why = why or "the warm interpreter could not fork it (the run's log says why)"
        pool.record(spec.pipeline.name, "cold", why)
