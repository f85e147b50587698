"""A worker process's shared state: its identity, claims, heartbeat and control channel.

One heartbeat thread per worker process does three things every WORKER_HEARTBEAT seconds:
refreshes `fastflow:worker:{id}` (host, queues, concurrency, running runs) with a TTL of
WORKER_LOST_AFTER — the server settles the runs of a worker whose record expired as LOST;
looks for cancel requests of its runs (every 0.5 s; the server sets a key, and polling
survives reconnects, unlike pub/sub); and checks it still holds each run's claim (if Redis
lost it, the server has settled the run and this worker stops it, so a run never runs twice
at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import orjson
import redis
from redis.client import Pipeline

from fastflow.dispatch.redis_keys import CLAIM_TTL, RedisKeys
from fastflow.dispatch.sealed_secrets import CLAIM_SCRIPT, SecretSeal
from fastflow.executors.launcher_client import SupervisorLauncher
from fastflow.executors.run_sandbox import RunSandbox, log_sandbox, prepare_host
from fastflow.executors.uv_env import SetupError, find_uv, uv_version_of
from fastflow.executors.warm.pool import WarmPool
from fastflow.pipelines.bundle import extract_bundle
from fastflow.runs.ports import RunControl
from fastflow.sandbox.status import probe
from fastflow.secrets.service import RunSecrets
from fastflow.settings import Settings
from fastflow.worker.containers import SWEEP_EVERY, remove_orphans, worker_docker_executor
from fastflow.worker.server_api import ServerApi

log = logging.getLogger(__name__)

_CONTROL_POLL = 0.5
# Why a run is stopped when its claim vanished; the run then ends FAILED/LOST, not CANCELLED.
CLAIM_LOST = (
    "Redis lost the run's state (restarted without its data?): this worker no longer holds "
    "the run's claim and stopped it"
)
_SERVER_PATIENCE = 120.0  # how long a call waits for a server that is restarting


@dataclass(frozen=True)
class ClaimAnswer:
    """What a worker's claim of a run got: `cancelled` (the reason; nothing was claimed),
    else whether this worker `held` the claim now, with the run's `sealed` secrets if any."""

    cancelled: str | None = None
    held: bool = False
    sealed: bytes | None = None


@dataclass
class _Active:
    loop: asyncio.AbstractEventLoop
    control: RunControl
    started: float


class WorkerRuntime:
    """Everything the tasks of one `fastflow worker` process share."""

    def __init__(self, settings: Settings, queues: list[str], concurrency: int) -> None:
        if not settings.server_url:
            raise ValueError("FASTFLOW_URL is not set: a worker fetches pipeline code from it")
        if not settings.worker_token:
            raise ValueError("FASTFLOW_WORKER_TOKEN is not set (see the server's DATA_DIR)")
        self.settings = settings
        self.queues = queues
        self.concurrency = concurrency
        self.keys = RedisKeys(settings.redis_prefix)
        self.id = settings.worker_name or f"{socket.gethostname()}:{os.getpid()}"
        self.redis = redis.Redis.from_url(
            settings.redis_url, socket_timeout=5.0, socket_connect_timeout=3.0
        )
        self.cache_dir = settings.data_dir / "bundle-cache"
        # How this worker's local runs are contained, decided once (logged by `start`).
        plan = prepare_host(
            probe(settings.sandbox, settings.run_user),
            settings.data_dir,
            settings.logs_dir,
            [settings.work_dir, self.cache_dir],
        )
        self.sandbox, self.base_python, self.sandbox_warnings = (
            plan.status,
            plan.python,
            plan.warnings,
        )
        self.run_sandbox = RunSandbox(self.sandbox, settings.resolved_uv_cache_dir)
        # Forks the runs' supervisors; when this worker dies it ends, and they cancel.
        self.launcher = SupervisorLauncher()
        # The warm interpreters the local runs of this process fork from.
        self.warm = WarmPool.from_settings(settings)
        self.server = ServerApi(
            settings.server_url, settings.worker_token, self.id, patience=_SERVER_PATIENCE
        )
        self.seal = SecretSeal(settings.worker_token)
        self._claim_script = self.redis.register_script(CLAIM_SCRIPT)
        # Fetches a run's secrets as soon as its claim is held, while the run gets ready.
        self._fetches = ThreadPoolExecutor(max(concurrency, 1), thread_name_prefix="secrets")
        # One for all runs of this process (it connects to the engine on first use).
        self.docker = worker_docker_executor(settings, self.id)
        self._active: dict[str, _Active] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._uv: tuple[str, str] | None = None
        self.started_at = time.time()

    # -- claims --------------------------------------------------------------------------

    def claim(self, run_id: str) -> ClaimAnswer:
        """Take the run for this worker unless it was cancelled or any worker (this one too)
        took it before; one round trip, which hands the claim holder the run's sealed
        secrets (see `sealed_secrets`)."""
        keys = [self.keys.claim(run_id), self.keys.secrets(run_id), self.keys.cancel(run_id)]
        answer = self._claim_script(keys=keys, args=[self.id, CLAIM_TTL])
        if answer[0] == 0:
            return ClaimAnswer(cancelled=answer[1].decode(errors="replace"))
        if answer[0] == 1:
            return ClaimAnswer()
        return ClaimAnswer(held=True, sealed=answer[1] if len(answer) > 1 else None)

    def fetch_secrets(self, run_id: str, sealed: bytes | None = None) -> Future[RunSecrets]:
        """The secrets of a run this worker holds the claim of: the ones its claim handed
        over, else asked of the server (which checks the claim) in the background, so the
        round trip overlaps the bundle, executor and environment."""
        opened = self.seal.open(run_id, sealed) if sealed is not None else None
        if opened is None:
            if sealed is not None:
                log.warning("run %s: its sealed secrets do not open; asking the server", run_id)
            return self._fetches.submit(self.server.run_secrets, run_id)
        log.info("run %s: secrets handed over with its claim", run_id, extra={"run_id": run_id})
        found: Future[RunSecrets] = Future()
        found.set_result(opened)
        return found

    def attach(self, run_id: str, control: RunControl) -> str | None:
        """Follow the run's cancel requests and claim from now on; why it is to stop
        already (a cancel asked for before), or None. One round trip with the heartbeat
        that lists the run among this worker's runs."""
        with self._lock:
            self._active[run_id] = _Active(asyncio.get_running_loop(), control, time.time())
        pipe = self.redis.pipeline(transaction=False)
        self._beat(pipe)
        pipe.get(self.keys.cancel(run_id))
        reason = pipe.execute()[-1]
        return reason.decode() if isinstance(reason, bytes) else None

    def detach(self, run_id: str) -> None:
        with self._lock:
            self._active.pop(run_id, None)

    # -- facts that do not change per run --------------------------------------------------

    def uv_facts(self) -> tuple[str | None, str | None]:
        """The uv binary and its version, found once for the process (None, None while uv
        cannot be found: each run then says why)."""
        with self._lock:
            if self._uv is None:
                try:
                    uv_bin = find_uv()
                except SetupError:
                    return None, None
                self._uv = (uv_bin, uv_version_of(uv_bin))
            return self._uv

    # -- bundles ---------------------------------------------------------------------------

    def bundle(self, sha: str) -> Path:
        """The extracted bundle `sha`, downloaded from the server once per hash."""
        target = self.cache_dir / sha
        if target.is_dir():
            return target
        return extract_bundle(self.server.bundle(sha), sha, self.cache_dir)

    # -- heartbeat -------------------------------------------------------------------------

    def start(self) -> None:
        log_sandbox(self.sandbox, self.sandbox_warnings)
        self.beat()
        self._thread = threading.Thread(target=self._beat_forever, name="fastflow-heartbeat")
        self._thread.daemon = True
        self._thread.start()
        sweeper = threading.Thread(target=self._sweep_forever, name="fastflow-sweep", daemon=True)
        sweeper.start()

    def is_active(self, run_id: str) -> bool:
        with self._lock:
            return run_id in self._active

    def _sweep_forever(self) -> None:
        """Remove containers of dead workers: at start (a restart after `kill -9`), then
        periodically (a dead peer on the same engine)."""
        while True:
            try:
                remove_orphans(self.docker, self.redis, self.keys, self.id, self.is_active)
            except redis.RedisError as exc:
                log.warning("container sweep skipped (redis unreachable?): %s", exc)
            except Exception:
                log.exception("container sweep failed")
            if self._stop.wait(SWEEP_EVERY):
                return

    def stop(self) -> None:
        self._stop.set()
        self._fetches.shutdown(wait=False, cancel_futures=True)
        self.launcher.close()
        self.server.close()
        self.warm.close()
        with contextlib.suppress(redis.RedisError):
            self.redis.delete(self.keys.worker(self.id))

    def record(self) -> dict[str, object]:
        with self._lock:
            running = sorted(self._active)
        return {
            "id": self.id,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "queues": self.queues,
            "concurrency": self.concurrency,
            "running_runs": running,
            "started_at": self.started_at,
            "last_heartbeat": time.time(),
            "sandbox": self.sandbox.to_dict(),
        }

    def beat(self) -> None:
        """Refresh this worker's record; its TTL is how long the server waits before LOST."""
        self._beat(self.redis)

    def _beat(self, client: redis.Redis | Pipeline) -> None:
        ttl_ms = int(self.settings.worker_lost_after * 1000)
        client.set(self.keys.worker(self.id), orjson.dumps(self.record()), px=ttl_ms)

    def _beat_forever(self) -> None:
        last_beat = time.monotonic()
        # Cancel requests are looked for more often than heartbeats are sent.
        while not self._stop.wait(min(_CONTROL_POLL, self.settings.worker_heartbeat)):
            try:
                if time.monotonic() - last_beat >= self.settings.worker_heartbeat:
                    self.beat()
                    last_beat = time.monotonic()
                self._check_runs()
            except redis.RedisError as exc:
                log.warning("heartbeat failed (redis unreachable?): %s", exc)
            except Exception:
                log.exception("heartbeat failed")

    def _check_runs(self) -> None:
        with self._lock:
            active = dict(self._active)
        if not active:
            return
        ids = list(active)
        pipe = self.redis.pipeline(transaction=False)
        for run_id in ids:
            pipe.get(self.keys.cancel(run_id))
            pipe.get(self.keys.claim(run_id))
        values = pipe.execute()
        for i, run_id in enumerate(ids):
            cancel, owner = values[2 * i], values[2 * i + 1]
            reason = None
            if cancel is not None:
                reason = cancel.decode()
            elif owner is None or owner.decode() != self.id:
                reason = CLAIM_LOST
            if reason is not None:
                self.request_cancel(run_id, reason)

    def request_cancel(self, run_id: str, reason: str) -> None:
        """Stop a run executing in this process (thread-safe)."""
        with self._lock:
            entry = self._active.get(run_id)
        if entry is None or entry.control.cancel_requested.is_set():
            return
        entry.control.cancel_reason = reason

        def _set() -> None:
            entry.control.cancel_requested.set()

        entry.loop.call_soon_threadsafe(_set)
