"""The warm interpreters of this process (a server or a worker): one per pipeline
environment, preload list and sandbox layer; started lazily, replaced when what they were
started from changes, the least recently used stopped past `FASTFLOW_WARM_MAX` or when all
of them together hold more memory than `FASTFLOW_WARM_MAX_MEMORY_MB`.

Thread-safe: a worker's runs use one pool from their own event loops.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastflow.executors.warm.client import WarmTarget
from fastflow.executors.warm.spawn import WarmProcess, WarmStartError, start_warm_process
from fastflow.sandbox.policy import SandboxPolicy
from fastflow.settings import Settings, WarmStart

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Warmth:
    """How a pipeline's latest run started: "warm" or "cold", and why."""

    state: str
    reason: str
    at: float

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "at": self.at}


@dataclass(frozen=True)
class WarmRequest:
    """What a warm interpreter for one run is started from."""

    pipeline: str
    python: Path
    env_dir: Path
    preload: tuple[str, ...]
    policy: SandboxPolicy | None  # the warm interpreter's own layer (None: not sandboxed)

    def key(self) -> str:
        """Changes when the environment is rebuilt, the preload list or the layer changes."""
        ready = self.env_dir / ".fastflow-ready"
        try:
            stamp = ready.stat().st_mtime_ns
        except OSError:
            stamp = 0
        policy = self.policy.to_dict() if self.policy is not None else None
        text = json.dumps(
            [str(self.python), stamp, self.preload, policy, self._inodes()], sort_keys=True
        )
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def _inodes(self) -> list[tuple[int, int] | None]:
        """Landlock binds a layer's rules to the folders' inodes when it is built: a folder
        removed and made again under the same name (an upload unpacked anew after the clean-up)
        is not covered by a warm interpreter's layer, so it needs a new one."""
        if self.policy is None:
            return []
        found: list[tuple[int, int] | None] = []
        for path in (*self.policy.read_exec, *self.policy.read, *self.policy.write):
            try:
                st = os.stat(path)
            except OSError:
                found.append(None)
            else:
                found.append((st.st_dev, st.st_ino))
        return found


class WarmPool:
    """Leases warm interpreters to runs and says how each pipeline's runs start."""

    def __init__(
        self,
        enabled: bool = True,
        max_processes: int = 8,
        ready_timeout: float = 300.0,
        max_memory_bytes: int | None = None,
    ):
        """`max_memory_bytes`: what the warm interpreters may hold together (resident memory,
        measured when each is ready: it runs no pipeline code, so it stays about that size)."""
        self.enabled = enabled
        self.max_processes = max_processes
        self.max_memory_bytes = max_memory_bytes
        self.ready_timeout = ready_timeout
        self._lock = threading.Lock()
        self._starting: dict[str, threading.Lock] = {}
        self._procs: dict[str, WarmProcess] = {}
        self._failed: dict[str, str] = {}  # key → why it could not start (not retried)
        self._by_pipeline: dict[str, str] = {}  # pipeline → key of its warm interpreter
        self._warmth: dict[str, Warmth] = {}
        self._retired: list[WarmProcess] = []
        self.starts: Counter[str] = Counter()  # "warm" / "cold" run starts
        self._closed = False

    @classmethod
    def from_settings(cls, settings: Settings) -> WarmPool:
        """FASTFLOW_WARM_START, FASTFLOW_WARM_MAX and FASTFLOW_WARM_MAX_MEMORY_MB."""
        mb = settings.warm_max_memory_mb
        if mb is None:
            import psutil

            memory = int(psutil.virtual_memory().total // 4)
        else:
            memory = int(mb * 1024 * 1024)
        return cls(
            settings.warm_start is WarmStart.AUTO, settings.warm_max, max_memory_bytes=memory
        )

    def lease(self, request: WarmRequest) -> WarmTarget | str:
        """The warm interpreter for `request` (started now if needed, blocking), or why the
        run starts cold."""
        key = request.key()
        with self._lock:
            if self._closed:
                return "the server is stopping"
            self._replace_previous(request.pipeline, key)
            starting = self._starting.setdefault(key, threading.Lock())
        with starting:
            with self._lock:
                found = self._procs.get(key)
                if found is not None and not found.alive():
                    # Started again by the next run.
                    del self._procs[key]
                    self._retired.append(found)
                    code = found.proc.returncode
                    return f"the warm interpreter had ended (exit code {code}); restarting it"
                if found is None and key in self._failed:
                    return self._failed[key]
            warm = found if found is not None else self._start(key, request)
            if isinstance(warm, str):
                return warm
            warm.last_used = time.monotonic()
            return WarmTarget(warm.address, warm.token, warm.python, warm.uid)

    def _start(self, key: str, request: WarmRequest) -> WarmProcess | str:
        try:
            started = start_warm_process(
                key, request.python, request.preload, request.policy, self.ready_timeout
            )
        except WarmStartError as exc:
            with self._lock:
                self._failed[key] = str(exc)
            log.warning("warm start of %s: %s", request.pipeline, exc)
            return str(exc)
        with self._lock:
            if self._closed:
                started.stop()
                self._retired.append(started)
                return "the server is stopping"
            self._procs[key] = started
            self._evict()
            too_big = self._evict_for_memory(key)
        if too_big is not None:
            log.warning("warm start of %s: %s", request.pipeline, too_big)
            return too_big
        log.info(
            "warm interpreter for %s started (pid %d, preload %s)",
            request.pipeline,
            started.proc.pid,
            list(request.preload) or "nothing",
        )
        return started

    def _replace_previous(self, pipeline: str, key: str) -> None:
        """A pipeline whose environment or preload list changed: its old interpreter goes
        (unless another pipeline still uses it)."""
        old = self._by_pipeline.get(pipeline)
        self._by_pipeline[pipeline] = key
        if old is None or old == key or old in self._by_pipeline.values():
            return
        self._failed.pop(old, None)
        proc = self._procs.pop(old, None)
        if proc is not None:
            self._retire(proc)

    def _evict(self) -> None:
        while len(self._procs) > self.max_processes:
            key = min(self._procs, key=lambda k: self._procs[k].last_used)
            self._retire(self._procs.pop(key))
        self._retired = [p for p in self._retired if p.alive()]

    def _evict_for_memory(self, keep: str) -> str | None:
        """Past the memory cap the least recently used go, never `keep` (just started for a
        run); `keep` alone over the cap is stopped too and its runs start cold (why: the
        answer). Called with the lock held."""
        cap = self.max_memory_bytes
        if cap is None:
            return None
        sizes = {key: proc.rss_bytes() or 0 for key, proc in self._procs.items()}
        while sum(sizes.values()) > cap and len(sizes) > 1:
            key = min((k for k in sizes if k != keep), key=lambda k: self._procs[k].last_used)
            del sizes[key]
            self._retire(self._procs.pop(key))
        held = sizes.get(keep, 0)
        if held <= cap:
            return None
        self._retire(self._procs.pop(keep))
        self._failed[keep] = (
            f"its warm interpreter holds {_mb(held)} MB, more than all warm interpreters may "
            f"hold together (FASTFLOW_WARM_MAX_MEMORY_MB={_mb(cap)})"
        )
        return self._failed[keep]

    def _retire(self, proc: WarmProcess) -> None:
        proc.stop()
        self._retired.append(proc)

    def record(self, pipeline: str, start: str, reason: str) -> None:
        """How a run of `pipeline` started (for the console and the counters)."""
        with self._lock:
            self.starts[start] += 1
            self._warmth[pipeline] = Warmth(start, reason, time.time())

    def start_counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self.starts)

    def warmth(self, pipeline: str) -> Warmth | None:
        with self._lock:
            return self._warmth.get(pipeline)

    def describe(self, pipeline: str) -> str:
        """One line for the console: how the pipeline's latest run here started, and why."""
        found = self.warmth(pipeline)
        if found is None:
            if not self.enabled:
                return "cold: warm starts are off (FASTFLOW_WARM_START=off)"
            return "warm starts on; no local run here since the server started"
        return f"{found.state}: {found.reason}"

    def processes(self) -> list[dict[str, Any]]:
        """The warm interpreters running now, with the memory each holds."""
        with self._lock:
            procs = list(self._procs.items())
            pipelines = dict(self._by_pipeline)
        found = []
        for key, proc in procs:
            if not proc.alive():
                continue
            found.append(
                {
                    "pid": proc.proc.pid,
                    "python": proc.python,
                    "preload": list(proc.preload),
                    "pipelines": sorted(p for p, k in pipelines.items() if k == key),
                    "rss_bytes": proc.rss_bytes(),
                    "started_at": proc.started_at,
                }
            )
        return found

    def close(self) -> None:
        """Stop every warm interpreter (each ends once the runs it forked have ended)."""
        with self._lock:
            self._closed = True
            procs = [*self._procs.values(), *self._retired]
            self._procs.clear()
            self._retired = []
        for proc in procs:
            proc.stop()
        for proc in procs:
            if proc.alive() and not _ended(proc, 0.5):
                log.info("warm interpreter %d ends after its runs", proc.proc.pid)


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.0f}"


def _ended(proc: WarmProcess, timeout: float) -> bool:
    import subprocess

    try:
        proc.proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return False
    return True
