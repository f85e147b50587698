"""Pipelines that disappeared (a sync removed them, or someone deleted their files): their
runs are cancelled with the reason "pipeline removed", their enabled schedules disabled.

`PipelineRemovals.handle` is called by git sync with the pipelines it removed; `RemovalWatch`
checks every few seconds that the pipelines of active runs are still on disk, for removals
that happen outside a sync.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from fastflow.errors import ConflictError, NotFoundError
from fastflow.loops import Loop
from fastflow.monitoring.health import HealthRegistry
from fastflow.pipelines.discovery import PipelineCatalog
from fastflow.runs.service import RunService
from fastflow.scheduler.service import SchedulerService
from fastflow.storage.run_store import RunStore

log = logging.getLogger(__name__)

REASON = "pipeline removed"


class PipelineRemovals:
    def __init__(self, runs: RunStore, run_service: RunService, scheduler: SchedulerService):
        self.runs = runs
        self.run_service = run_service
        self.scheduler = scheduler

    def handle(self, gone: Iterable[str]) -> list[str]:
        """Cancel the active runs of `gone` pipelines and disable their enabled schedules;
        one warning per pipeline that had either, for the sync result and the console."""
        warnings = []
        for name in sorted(set(gone)):
            cancelled = []
            for run in self.runs.active_for(name):
                if run.source is not None:
                    continue  # an upload's run: its code is not in PIPELINES_DIR
                try:
                    self.run_service.cancel(run.id, REASON)
                except (ConflictError, NotFoundError):
                    continue  # it finished meanwhile
                cancelled.append(run.id)
            disabled = self.scheduler.disable_all(name)
            parts = []
            if cancelled:
                parts.append(f"{len(cancelled)} run(s) cancelled ({', '.join(cancelled)})")
            if disabled:
                parts.append(
                    f"{len(disabled)} enabled schedule(s) disabled ({', '.join(disabled)})"
                )
            if parts:
                warning = f"pipeline {name!r} was removed: {'; '.join(parts)}"
                log.warning("%s", warning)
                warnings.append(warning)
        return warnings


class RemovalWatch(Loop):
    """Every few seconds: are the pipelines of active runs still there?"""

    name = "pipeline-removal-watch"

    def __init__(
        self,
        removals: PipelineRemovals,
        runs: RunStore,
        catalog: PipelineCatalog,
        interval: float = 5.0,
        health: HealthRegistry | None = None,
    ) -> None:
        super().__init__(interval, health, first_delay=interval)
        self.removals = removals
        self.runs = runs
        self.catalog = catalog

    async def run_once(self) -> None:
        await asyncio.to_thread(self.check)

    def check(self) -> list[str]:
        names = {run.pipeline_name for run in self.runs.active() if run.source is None}
        gone = [name for name in names if not self._exists(name)]
        return self.removals.handle(gone) if gone else []

    def _exists(self, name: str) -> bool:
        try:
            self.catalog.get(name)
        except NotFoundError:
            return False
        return True
