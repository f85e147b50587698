"""CPU and RAM of a whole process tree (psutil), as one metrics sample."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psutil

from fastflow.sandbox.contain import descendants

_MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    cpu_hard: float | None = None  # cores
    cpu_soft: float | None = None
    mem_hard_bytes: int | None = None
    mem_soft_bytes: int | None = None


class ProcessTreeSampler:
    """Samples a process and all its descendants; cpu_percent is % of one core (200 = 2)."""

    def __init__(self, pid: int, limits: Limits) -> None:
        self.limits = limits
        self.peak_ram_mb = 0.0
        self._root: psutil.Process | None
        try:
            self._root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            self._root = None
        self._procs: dict[int, psutil.Process] = {}
        self._last_cpu_total: float | None = None
        self._last_time = time.monotonic()
        self._cpu_by_pid: dict[int, float] = {}

    def _tree(self) -> list[psutil.Process]:
        if self._root is None:
            return []
        below = descendants(self._root.pid)
        if below is None:
            try:
                return [self._root, *self._root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return []
        tree = [self._root]
        known = self._procs
        self._procs = {}
        for pid in below:
            proc = known.get(pid)
            if proc is None:
                try:
                    proc = psutil.Process(pid)
                except psutil.Error:
                    continue
            self._procs[pid] = proc
            tree.append(proc)
        return tree

    def sample(self) -> dict[str, Any] | None:
        """One measurement, or None when the process is gone."""
        rss = 0
        alive = False
        for proc in self._tree():
            try:
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
                cpu = times.user + times.system
                # Remember each pid's last CPU time so a child that exits between samples
                # does not make the total jump backwards.
                self._cpu_by_pid[proc.pid] = cpu
                alive = True
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        if not alive:
            return None
        cpu_total = sum(self._cpu_by_pid.values())
        now = time.monotonic()
        cpu_percent = 0.0
        if self._last_cpu_total is not None and now > self._last_time:
            cpu_percent = max(0.0, (cpu_total - self._last_cpu_total) / (now - self._last_time))
            cpu_percent *= 100.0
        self._last_cpu_total, self._last_time = cpu_total, now
        ram_mb = rss / _MB
        self.peak_ram_mb = max(self.peak_ram_mb, ram_mb)
        return self._format(round(cpu_percent, 1), round(ram_mb, 1))

    def _format(self, cpu_percent: float, ram_mb: float) -> dict[str, Any]:
        return format_sample(self.limits, cpu_percent, ram_mb)

    def over_memory_limit(self, sample: dict[str, Any]) -> bool:
        hard = self.limits.mem_hard_bytes
        return hard is not None and sample["ram_mb"] * _MB > hard


def format_sample(
    lim: Limits, cpu_percent: float, ram_mb: float, ram_limit_mb: float | None = None
) -> dict[str, Any]:
    """One metrics sample, with the soft-limit flags."""
    cpu_soft = lim.cpu_soft is not None and cpu_percent > lim.cpu_soft * 100
    mem_soft = lim.mem_soft_bytes is not None and ram_mb * _MB > lim.mem_soft_bytes
    if ram_limit_mb is None and lim.mem_hard_bytes:
        ram_limit_mb = round(lim.mem_hard_bytes / _MB, 1)
    return {
        "timestamp": datetime.now(UTC).isoformat(),
        "cpu_percent": cpu_percent,
        "ram_mb": ram_mb,
        "ram_limit_mb": ram_limit_mb,
        "cpu_limit": lim.cpu_hard,
        "soft_limit_exceeded": bool(cpu_soft or mem_soft),
        "cpu_soft_limit_exceeded": bool(cpu_soft),
        "ram_soft_limit_exceeded": bool(mem_soft),
    }
