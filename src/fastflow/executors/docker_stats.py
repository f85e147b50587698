"""Container CPU and RAM from the engine's stats, right on both Docker and Podman.

Docker's usual formula (Δcpu ÷ Δsystem * online_cpus) reads about 4 times too high on Podman,
whose `system_cpu_usage` is the host's busy time. Δcpu ÷ Δwall-clock (the `read` timestamps)
is right on both: % of one core, so 200 means two cores. Podman's Docker-compatible stream
sends a sample only every 5 s; its own endpoint on the same socket takes an interval, so on
Podman that one is used (one sample a second).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastflow.executors.process_metrics import Limits, format_sample

_MB = 1024 * 1024
_TS = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$")
# CPU at >= this share of its hard limit for this many samples in a row counts as throttled.
_THROTTLE_SHARE = 0.95
_THROTTLE_SAMPLES = 3


def parse_ts_ns(text: str) -> int:
    """RFC 3339 with up to nanoseconds (Docker trims trailing zeros; Podman may give seconds)."""
    m = _TS.match(text.strip())
    if not m:
        raise ValueError(f"not an RFC 3339 timestamp: {text!r}")
    base = datetime.fromisoformat(m.group(1) + (m.group(3) if m.group(3) != "Z" else "+00:00"))
    frac = (m.group(2) or "").ljust(9, "0")
    return int(base.astimezone(UTC).timestamp()) * 1_000_000_000 + int(frac or 0)


@dataclass(frozen=True)
class Reading:
    """One raw measurement: wall clock and cumulative CPU time in ns, memory in bytes."""

    t_ns: int
    cpu_ns: int
    mem_bytes: int
    mem_limit_bytes: int | None


def from_docker_stats(data: dict[str, Any]) -> Reading | None:
    """A Docker-API stats object → Reading (None for the empty one after the container ends)."""
    try:
        cpu = int(data["cpu_stats"]["cpu_usage"]["total_usage"])
        t_ns = parse_ts_ns(str(data["read"]))
    except (KeyError, TypeError, ValueError):
        return None
    mem = data.get("memory_stats") or {}
    usage = int(mem.get("usage") or 0)
    stats = mem.get("stats") or {}
    # As `docker stats` shows it: page cache that can be dropped is not the process's memory.
    cache = stats.get("inactive_file", stats.get("total_inactive_file", 0)) or 0
    limit = mem.get("limit")
    return Reading(t_ns, cpu, max(0, usage - int(cache)), int(limit) if limit else None)


def from_libpod_stats(data: dict[str, Any]) -> Reading | None:
    """One entry of Podman's `/libpod/containers/stats` → Reading."""
    try:
        stats = data["Stats"][0]
        if not stats["SystemNano"]:
            return None  # the container is gone: Podman answers zeros
        # SystemNano is Podman's wall clock at the reading; CPUNano the container's CPU time.
        return Reading(
            int(stats["SystemNano"]),
            int(stats["CPUNano"]),
            int(stats["MemUsage"]),
            int(stats["MemLimit"]) or None,
        )
    except (KeyError, IndexError, TypeError, ValueError):
        return None


def cpu_percent(prev: Reading, cur: Reading) -> float:
    """% of one core between two readings (0 when they do not advance)."""
    dt = cur.t_ns - prev.t_ns
    if dt <= 0:
        return 0.0
    return max(0.0, (cur.cpu_ns - prev.cpu_ns) / dt * 100.0)


class StatsTracker:
    """Turns readings into metrics samples: CPU %, RAM MB, limit, soft-limit and throttling."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._prev: Reading | None = None
        self._at_limit = 0
        self.peak_ram_mb = 0.0

    def sample(self, reading: Reading) -> dict[str, Any] | None:
        """A sample, or None for the first reading (a CPU % needs two)."""
        prev, self._prev = self._prev, reading
        if prev is None or reading.t_ns <= prev.t_ns:
            return None
        cpu = round(cpu_percent(prev, reading), 1)
        ram_mb = round(reading.mem_bytes / _MB, 1)
        self.peak_ram_mb = max(self.peak_ram_mb, ram_mb)
        hard_mem = self.limits.mem_hard_bytes
        limit_mb = round((hard_mem or reading.mem_limit_bytes or 0) / _MB, 1) or None
        sample = format_sample(self.limits, cpu, ram_mb, limit_mb)
        cpu_hard = self.limits.cpu_hard
        at_limit = cpu_hard is not None and cpu >= cpu_hard * 100 * _THROTTLE_SHARE
        self._at_limit = self._at_limit + 1 if at_limit else 0
        sample["cpu_throttled"] = self._at_limit >= _THROTTLE_SAMPLES
        return sample


def iter_readings(client: Any, container_id: str, podman: bool) -> Iterator[Reading]:
    """Blocking: the engine's stats stream for one container, until it ends."""
    if podman:
        api = client.api
        resp = api._get(  # the libpod endpoint has no SDK method; same socket, same session
            api.base_url + "/v4.0.0/libpod/containers/stats",
            params={"containers": container_id, "stream": "true", "interval": 1},
            stream=True,
        )
        try:
            if resp.status_code != 200:
                return
            for line in resp.iter_lines():
                if not line:
                    continue
                reading = from_libpod_stats(json.loads(line))
                if reading is None:
                    return
                yield reading
        finally:
            resp.close()
        return
    for data in client.api.stats(container_id, stream=True, decode=True):
        reading = from_docker_stats(data)
        if reading is None:
            return
        yield reading
