"""CleanupService: applies the retention policy and sweeps what runs left behind.

One round: (1) finished runs the policy names lose their database rows first, then their log,
metrics, work folder and objects (`runs/<id>/`); a crash in between leaves only files, which
(2) the sweep removes: log files and work folders whose run is gone or finished, and stale
upload staging files. Nothing that belongs to a PENDING or RUNNING run is ever touched.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

from fastflow.artifacts.keeper import run_prefix
from fastflow.loops import Loop
from fastflow.models import RunStatus
from fastflow.monitoring.health import HealthRegistry
from fastflow.retention.policy import RetentionPolicy
from fastflow.settings import Settings
from fastflow.storage.objects import ObjectStore
from fastflow.storage.retention_store import RetentionStore

log = logging.getLogger(__name__)

_BATCH = 500
# (statuses of run ids, dry_run) -> names of containers removed (or that would be).
ContainerSweep = Callable[[Callable[[Collection[str]], dict[str, str]], bool], list[str]]
# A file of an unknown run younger than this may belong to a run being created right now.
_ORPHAN_GRACE_SECONDS = 300.0
# An unpacked upload not used for this long is removed (unpacked again when needed).
_UPLOAD_CACHE_SECONDS = 3600.0
_LOG_SUFFIXES = ("_metrics.jsonl", ".log")


@dataclass
class CleanupReport:
    dry_run: bool
    policy: str
    runs: list[str] = field(default_factory=list)
    files: int = 0
    bytes: int = 0
    objects: int = 0
    leftover_paths: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)

    def summary(self) -> str:
        verb = "would remove" if self.dry_run else "removed"
        return (
            f"{verb} {len(self.runs)} run(s), {self.files} file(s) / "
            f"{self.bytes / 1024 / 1024:.1f} MB, {self.objects} stored object(s), "
            f"{len(self.leftover_paths)} leftover path(s), {len(self.containers)} leftover "
            f"container(s) — policy: {self.policy}"
        )


class CleanupService:
    def __init__(
        self,
        settings: Settings,
        store: RetentionStore,
        objects: ObjectStore,
        log_path: Callable[[str], Path],
        metrics_path: Callable[[str], Path],
        policy: RetentionPolicy | None = None,
        containers: ContainerSweep | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.objects = objects
        self.log_path = log_path
        self.metrics_path = metrics_path
        self.policy = policy or RetentionPolicy.from_settings(settings)
        self.containers = containers

    def run_once(self, dry_run: bool = False) -> CleanupReport:
        report = CleanupReport(dry_run, self.policy.describe())
        if self.policy.active:
            if dry_run:
                for run_id in self.policy.select(self.store):
                    self._remove_run_files(run_id, report, dry_run=True)
                    report.runs.append(run_id)
            else:
                while batch := self.policy.select(self.store, limit=_BATCH):
                    deleted = self.store.delete_finished(batch)
                    for run_id in deleted:
                        self._remove_run_files(run_id, report, dry_run=False)
                    report.runs.extend(deleted)
                    if len(deleted) < len(batch):
                        break  # some became unselectable meanwhile; next round takes them
        self._sweep(report, dry_run)
        if self.containers is not None:
            report.containers = self.containers(self.store.statuses, dry_run)
        if report.runs or report.leftover_paths or report.containers:
            log.info("cleanup: %s", report.summary())
        return report

    def _remove_run_files(self, run_id: str, report: CleanupReport, dry_run: bool) -> None:
        for path in (self.log_path(run_id), self.metrics_path(run_id)):
            if path.is_file():
                report.files += 1
                report.bytes += path.stat().st_size
                if not dry_run:
                    path.unlink(missing_ok=True)
        work = self.settings.work_dir / run_id
        if work.is_dir():
            report.leftover_paths.append(str(work))
            if not dry_run:
                shutil.rmtree(work, ignore_errors=True)
        prefix = run_prefix(run_id)
        if dry_run:
            report.objects += len(self.objects.list(prefix))
        else:
            report.objects += self.objects.delete_prefix(prefix)

    def _sweep(self, report: CleanupReport, dry_run: bool) -> None:
        """Work folders and logs of runs that are finished or gone; stale upload staging."""
        now = time.time()
        candidates: dict[str, list[Path]] = {}
        work_root = self.settings.work_dir
        if work_root.is_dir():
            for entry in work_root.iterdir():
                if entry.is_dir():
                    candidates.setdefault(entry.name, []).append(entry)
        logs_root = self.settings.logs_dir
        if logs_root.is_dir():
            for entry in logs_root.iterdir():
                for suffix in _LOG_SUFFIXES:
                    if entry.name.endswith(suffix) and entry.is_file():
                        run_id = entry.name[: -len(suffix)]
                        candidates.setdefault(run_id, []).append(entry)
                        break
        statuses = self.store.statuses(candidates)
        for run_id, paths in candidates.items():
            status = statuses.get(run_id)
            for path in paths:
                is_log = path.parent == logs_root
                if status is None:
                    # A run that is gone: everything of it goes, once it is surely not new.
                    if now - path.stat().st_mtime < _ORPHAN_GRACE_SECONDS:
                        continue
                elif is_log or not RunStatus(status).is_terminal:
                    continue  # a known run keeps its log; an active one keeps everything
                self._remove_path(path, report, dry_run)
        self._sweep_upload_caches(now, report, dry_run)
        staging = self.settings.uploads_dir / ".incoming"
        if staging.is_dir():
            for entry in staging.iterdir():
                if now - entry.stat().st_mtime > 3600:
                    self._remove_path(entry, report, dry_run)

    def _sweep_upload_caches(self, now: float, report: CleanupReport, dry_run: bool) -> None:
        """Unpacked uploads no run needs now and none used for an hour: a cache, unpacked
        again from the object store by the next run of its build."""
        root = self.settings.uploads_dir
        if not root.is_dir():
            return
        in_use = self.store.sources_in_use()
        for entry in root.iterdir():
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            if f"upload:{entry.name}" in in_use:
                continue
            if now - entry.stat().st_mtime > _UPLOAD_CACHE_SECONDS:
                self._remove_path(entry, report, dry_run)

    def _remove_path(self, path: Path, report: CleanupReport, dry_run: bool) -> None:
        report.leftover_paths.append(str(path))
        if dry_run:
            return
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


class CleanupLoop(Loop):
    """The periodic clean-up (every CLEANUP_INTERVAL seconds) inside the server."""

    name = "cleanup"

    def __init__(self, cleanup: CleanupService, interval: float, health: HealthRegistry) -> None:
        super().__init__(interval, health, first_delay=min(interval, 30.0))
        self.cleanup = cleanup

    async def run_once(self) -> None:
        await asyncio.to_thread(self.cleanup.run_once)
