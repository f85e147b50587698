"""The local executor's branch point: fork this run from a warm interpreter, or start it cold."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastflow.executors.run_sandbox import PreparedRun
from fastflow.executors.warm.client import WarmTarget
from fastflow.executors.warm.pool import WarmPool, WarmRequest
from fastflow.executors.warm.spawn import base_policy
from fastflow.runs.ports import RunSpec


async def warm_target(
    pool: WarmPool | None, spec: RunSpec, python: Path, prepared: PreparedRun
) -> tuple[WarmTarget | None, str | None]:
    """The warm interpreter this run forks from, or None and why it starts cold (None: warm
    starts are switched off, nothing to say)."""
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
    found = await asyncio.to_thread(pool.lease, request)
    if isinstance(found, str):
        return None, found
    return found, None


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
