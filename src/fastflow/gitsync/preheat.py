"""uv pre-heating: build new or changed pipeline environments in the background after a sync.

`EnvironmentCache.ensure()` resolves the requirements into the shared uv cache and builds the
per-requirements-hash environment, so the first run after a sync starts without setup.
Failures are recorded per pipeline and never block or fail the sync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastflow.executors.uv_env import EnvironmentCache, SetupError
from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.records import Pipeline
from fastflow.storage.pipeline_store import PipelineStore

log = logging.getLogger(__name__)

_TAIL = 2000
_PARALLEL = 2


class Preheater:
    def __init__(
        self,
        envs: EnvironmentCache,
        pipelines: PipelineStore,
        warm_up: Callable[[PipelineDefinition], Awaitable[None]] | None = None,
    ) -> None:
        """`warm_up`: called once a pipeline's environment is built (starts its warm
        interpreter)."""
        self.envs = envs
        self.pipelines = pipelines
        self.warm_up = warm_up
        self.warming: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None

    def is_ready(self, pipeline: PipelineDefinition) -> bool:
        return self.envs.is_ready(pipeline)

    def snapshot(self) -> set[str]:
        return set(self.warming)

    def status(self, pipeline: PipelineDefinition, row: Pipeline, warming: bool) -> str | None:
        """'cached' | 'warming' | 'failed' | 'not cached'; None without dependencies.

        `warming` is whether it was warming before `row` was read (see PipelineService).
        """
        if not pipeline.has_requirements or not pipeline.valid:
            return None
        if warming:
            return "warming"
        try:
            if self.is_ready(pipeline):
                return "cached"
        except OSError:
            return None
        return "failed" if row.cache_warmup_error else "not cached"

    def start(self, found: dict[str, PipelineDefinition]) -> list[str]:
        """Start warming every pipeline whose environment is not built; returns their names."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(_PARALLEL)
        started = []
        for name, p in found.items():
            if not p.valid or not p.has_requirements or name in self.warming:
                continue
            try:
                if self.is_ready(p):
                    continue
            except OSError:
                continue  # the requirements file vanished mid-scan
            self.warming.add(name)
            task = asyncio.create_task(self._warm(p), name=f"fastflow-preheat-{name}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started.append(name)
        return started

    async def _warm(self, pipeline: PipelineDefinition) -> None:
        assert self._slots is not None
        output = bytearray()

        def sink(chunk: bytes) -> None:
            output.extend(chunk)
            del output[:-_TAIL]

        error: str | None = None
        try:
            async with self._slots:
                await self.envs.ensure(pipeline, sink)
        except SetupError as exc:
            tail = output.decode("utf-8", "replace").strip()
            error = f"{exc}: {tail}" if tail else str(exc)
        except Exception as exc:
            log.exception("pre-heat of %s failed", pipeline.name)
            error = f"pre-heating failed: {exc}"
        if error:
            log.warning("pre-heat of %s failed: %s", pipeline.name, error.splitlines()[0])
        else:
            log.info("pre-heat of %s done", pipeline.name)
            if self.warm_up is not None:
                try:
                    await self.warm_up(pipeline)
                except Exception:
                    log.exception("warm start of %s failed", pipeline.name)
        try:
            await asyncio.to_thread(self.pipelines.record_warmup, pipeline.name, error)
        finally:
            # Only now: a reader must never see "not cached" between warming and the result.
            self.warming.discard(pipeline.name)

    async def wait(self) -> None:
        """Wait for the warm-ups under way (used on shutdown and by tests)."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.wait()
