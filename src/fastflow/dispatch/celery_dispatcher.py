"""Celery dispatcher: PENDING runs go to `fastflow worker` processes through a Redis broker.

The server keeps every run's log file and live fan-out; workers send events over Redis
Streams (see `celery_ingest`). Sending is driven by the database, not by memory: a loop sends
each PENDING run that has no `queued` marker in Redis. The marker and the broker's message
live in the same Redis, so if Redis loses its data both vanish and the run is sent again;
while Redis is unreachable runs simply stay PENDING and go out when it is back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import orjson
import redis
import redis.asyncio as aredis

from fastflow.dispatch.celery_app import make_celery
from fastflow.dispatch.celery_ingest import StreamIngest
from fastflow.dispatch.celery_messages import TASK_NAME, RunMessage
from fastflow.dispatch.redis_keys import CANCEL_TTL, CLAIM_TTL, RedisKeys
from fastflow.dispatch.sealed_secrets import SecretSeal, hash_fields
from fastflow.errors import FastflowError, UnavailableError
from fastflow.events.fanout import EventFanout
from fastflow.loops import Loop
from fastflow.models import FailureKind, RunStatus
from fastflow.pipelines.bundle import build_bundle
from fastflow.pipelines.discovery import PipelineCatalog, PipelineDefinition
from fastflow.records import Run
from fastflow.runs.logs import RunLogs
from fastflow.runs.settlement import Settlement
from fastflow.secrets.service import RunSecrets
from fastflow.settings import Settings
from fastflow.storage.run_store import RunStore

log = logging.getLogger(__name__)

_POLL_INTERVAL = 2.0


class _SendLoop(Loop):
    """Sends PENDING runs as messages: at once when woken, else every few seconds."""

    name = "celery-send"

    def __init__(self, dispatcher: CeleryDispatcher) -> None:
        super().__init__(_POLL_INTERVAL, retry_after=1.0)
        self.dispatcher = dispatcher

    async def run_once(self) -> None:
        await asyncio.to_thread(self.dispatcher.send_pending)

    def succeeded(self) -> None:
        if self.dispatcher.send_error is not None:
            log.warning("redis reachable again; sending pending runs")
        self.dispatcher.send_error = None

    def failed(self, exc: Exception) -> None:
        if self.dispatcher.send_error is None:
            log.error("cannot send runs to workers (they stay PENDING): %s", exc)
        self.dispatcher.send_error = str(exc) or type(exc).__name__


class CeleryDispatcher:
    """Sends PENDING runs to Celery and ingests their events; implements `Dispatcher`."""

    def __init__(
        self,
        settings: Settings,
        runs: RunStore,
        catalog: PipelineCatalog,
        settlement: Settlement,
        logs: RunLogs,
        fanout: EventFanout,
        run_secrets: Callable[[Run], RunSecrets] | None = None,
        worker_token: str | None = None,
    ) -> None:
        """`run_secrets` (what the secrets store gives a run) and `worker_token`: with both,
        a run's secrets go out sealed beside its message, for its claim holder only."""
        # A block in which `run_secrets` reads the store once: a batch's runs get their
        # secrets from one read (SecretService.read_once).
        self.read_secrets_once: Callable[[], AbstractContextManager[None]] = nullcontext
        self._settings = settings
        self._run_secrets = run_secrets
        self._seal = SecretSeal(worker_token) if worker_token and run_secrets else None
        self._runs = runs
        self._catalog = catalog
        self._settlement = settlement
        self.keys = RedisKeys(settings.redis_prefix)
        self.celery = make_celery(settings)
        opts = {"socket_timeout": 5.0, "socket_connect_timeout": 3.0}
        self.redis = redis.Redis.from_url(settings.redis_url, **opts)
        self._aredis = aredis.Redis.from_url(settings.redis_url, **opts)  # type: ignore[arg-type]
        self.ingest = StreamIngest(
            runs,
            settlement,
            logs,
            fanout,
            self.keys,
            self._aredis,
            self.redis,
            timings=settings.log_timings,
        )
        self._sender = _SendLoop(self)
        self.send_error: str | None = None
        # Runs submitted since the last round: a round sends these without reading every
        # active run; the database is read whole at least every _POLL_INTERVAL (and first).
        self._fresh: deque[str] = deque()
        self._scanned = float("-inf")

    @property
    def running(self) -> int:
        return self.ingest.running

    @property
    def redis_error(self) -> str | None:
        """Why Redis cannot be used right now, or None."""
        return self.send_error or self.ingest.error

    def list_workers(self) -> list[dict[str, Any]]:
        """Heartbeat records of the workers alive now, by id; UnavailableError without Redis."""
        try:
            keys = sorted(self.redis.scan_iter(match=self.keys.worker_pattern, count=500))
            records = self.redis.mget(keys) if keys else []
        except redis.RedisError as exc:
            raise UnavailableError(f"redis is unreachable: {exc}") from None
        return [orjson.loads(r) for r in records if r is not None]

    def claim_owner(self, run_id: str) -> str | None:
        """The worker that claimed `run_id` (SET NX at its start), or None; UnavailableError
        without Redis."""
        try:
            owner = self.redis.get(self.keys.claim(run_id))
        except redis.RedisError as exc:
            raise UnavailableError(f"redis is unreachable: {exc}") from None
        return owner.decode() if isinstance(owner, bytes) else None

    async def start(self) -> None:
        await self._sender.start()  # its first round sends what waits from before
        await self.ingest.start()

    async def stop(self) -> None:
        """Stop sending and ingesting; remote runs keep running and are caught up on restart."""
        await self._sender.stop()
        await self.ingest.stop()
        await self._aredis.aclose()
        self.redis.close()

    def submit(self, run_id: str) -> None:
        # Before start: sent from the database when dispatching starts.
        self._fresh.append(run_id)
        self.ingest.poke(run_id)
        self._sender.wake()

    def cancel(self, run_id: str, reason: str = "cancel requested") -> bool:
        """Tell the worker running (or about to run) `run_id` to stop it."""
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.set(self.keys.cancel(run_id), reason, ex=CANCEL_TTL)
            pipe.hdel(self.keys.secrets(run_id), "sealed")  # no run to hand them to any more
            pipe.execute()
        except redis.RedisError as exc:
            log.error("run %s: cancel not delivered, redis unreachable: %s", run_id, exc)
            return False
        return True

    def send_pending(self) -> int:
        """Send every PENDING run not sent yet; returns how many were sent.

        Redis round trips per batch, not per run: the sealed secrets of the whole batch go
        in one pipeline before any message (a worker may claim a run as soon as its message
        is out), the `queued` markers in one after the messages."""
        pending = [r for r in self._candidates() if r.status == RunStatus.PENDING.value]
        if not pending:
            return 0
        flags = self.redis.mget([self.keys.queued(r.id) for r in pending])
        ready = []
        code: dict[str, tuple[PipelineDefinition, str]] = {}  # per pipeline, for this batch
        with self.read_secrets_once():
            for run, flag in zip(pending, flags, strict=True):
                found = self._ready(run, code) if flag is None else None
                if found is not None:
                    ready.append(found)
        if not ready:
            return 0
        sealed = [(m, fields) for m, _q, fields in ready if fields is not None]
        if sealed:
            pipe = self.redis.pipeline(transaction=False)
            for message, fields in sealed:
                key = self.keys.secrets(message.run_id)
                pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
                pipe.expire(key, CLAIM_TTL)
            pipe.execute()
        sent: list[tuple[str, str]] = []
        try:
            for message, queue, _fields in ready:
                started = time.monotonic()
                message.sent_at = time.time()
                self.celery.send_task(
                    TASK_NAME,
                    kwargs={"message": message.model_dump()},
                    queue=queue,
                    retry=True,
                    retry_policy={"max_retries": 1, "interval_start": 0.2, "interval_step": 0.5},
                )
                sent.append((message.run_id, queue))
                log.debug(
                    "run %s → queue %s (%.1f ms)",
                    message.run_id,
                    queue,
                    (time.monotonic() - started) * 1e3,
                )
        finally:
            # After sending: a crash in between sends twice, and the worker's claim drops
            # the copy.
            if sent:
                pipe = self.redis.pipeline(transaction=False)
                for run_id, queue in sent:
                    pipe.set(self.keys.queued(run_id), queue, ex=CLAIM_TTL)
                pipe.execute()
        return len(sent)

    def _candidates(self) -> list[Run]:
        """Every active run when the database is due a whole read, else the runs submitted
        since the last round (a burst of submissions costs one row each, not every active
        run for each of them)."""
        now = time.monotonic()
        if now - self._scanned >= _POLL_INTERVAL:
            self._scanned = now
            self._fresh.clear()  # the read below sees them (submitted after their commit)
            return self._runs.active()
        fresh = []
        while self._fresh:
            fresh.append(self._fresh.popleft())
        return self._runs.get_many(fresh)  # one query; a run deleted meanwhile is left out

    def _ready(
        self, run: Run, code: dict[str, tuple[PipelineDefinition, str]]
    ) -> tuple[RunMessage, str, dict[str, bytes] | None] | None:
        """The run's message, its queue and its sealed secrets (None when they are to be
        asked for over HTTP); None when the run cannot be sent (it is settled FAILED).
        `code`: the pipelines and bundles found for the batch so far (read once per batch)."""
        try:
            if run.pipeline_name not in code:
                pipeline = self._catalog.get(run.pipeline_name)
                if not pipeline.valid:
                    raise FastflowError(pipeline.error or "invalid pipeline")
                bundle = build_bundle(pipeline, self._settings.bundles_dir)
                code[run.pipeline_name] = (pipeline, bundle)
            pipeline, bundle = code[run.pipeline_name]
        except (FastflowError, OSError) as exc:
            message = getattr(exc, "message", None) or str(exc)
            self._settlement.settle_failed(run, f"cannot dispatch: {message}", FailureKind.SETUP)
            return None
        message = RunMessage(
            run_id=run.id,
            pipeline=run.pipeline_name,
            bundle=bundle,
            attempt=run.attempt,
            parameters=run.parameters,
            timeout=pipeline.config.timeout or self._settings.container_timeout,
            executor=run.executor,
        )
        queue = pipeline.config.queue or self._settings.default_queue
        return message, queue, self._sealed(run)

    def _sealed(self, run: Run) -> dict[str, bytes] | None:
        """The run's sealed-secrets hash, or None: then its worker asks the server over HTTP
        (which says why, should the store not give the run its secrets)."""
        if self._seal is None or self._run_secrets is None:
            return None
        try:
            found = self._run_secrets(run)
        except FastflowError as exc:
            log.info("run %s: secrets not sealed (%s); its worker asks for them", run.id, exc)
            return None
        except Exception:  # never keeps the run (or the runs after it) from being sent
            log.exception("run %s: secrets not sealed; its worker asks for them", run.id)
            return None
        return hash_fields(run.pipeline_name, self._seal.seal(run.id, found), found)
