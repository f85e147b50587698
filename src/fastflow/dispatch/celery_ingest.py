"""StreamIngest: the server side of remote runs — Redis streams into log files, DB and fan-out.

For every PENDING or RUNNING run it reads the run's stream (XREAD), appends the events to the
run's log file keeping the worker's seq (events at or below the file's last seq are skipped,
so replaying a stream after a server restart never duplicates a line), publishes them to the
in-memory fan-out (live SSE/WebSocket viewers see remote runs exactly like local ones),
mirrors start/progress into the database, and settles the run on `complete`. Persisted
entries are trimmed from the stream. A server that was down starts reading each stream from
its beginning and so catches up from where its log file ends.

It also watches liveness: a run whose claiming worker stopped sending heartbeats for
WORKER_LOST_AFTER seconds is settled as LOST (and retried per its policy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
import redis
import redis.asyncio as aredis

from fastflow.dispatch.ingest_parts import (
    Entries,
    last_id_of,
    latest_progress,
    names_executor,
    started_fields,
    streams,
    write_samples,
)
from fastflow.dispatch.redis_keys import RedisKeys
from fastflow.dispatch.sealed_secrets import audit_hand_over
from fastflow.events import types as ev
from fastflow.events.fanout import EventFanout
from fastflow.events.log import RunLogWriter, fresh_lines
from fastflow.events.redis_sink import FIELD, parse_entry
from fastflow.loops import Loop
from fastflow.models import RunStatus
from fastflow.monitoring.timings import StageClock
from fastflow.records import Run
from fastflow.runs.logs import RunLogs
from fastflow.runs.settlement import Settlement
from fastflow.storage.run_store import RunStore

log = logging.getLogger(__name__)

_REFRESH = 2.0  # re-read active runs from the database at least this often (or when poked)
_BLOCK_MS = 500  # XREAD wait when no event and no wake-up comes (liveness is checked after)
_IDLE_BLOCK_MS = 1000  # the same with no run to follow: only a wake-up ends it early
_MONITOR = 1.0  # how often claims and heartbeats are checked
_PROGRESS_DB_INTERVAL = 0.5
_BATCH = 1000
_FIELD = FIELD.encode()
_LOG_LINE = b'{"type":"log"'  # how an output line's JSON starts (workers write `type` first)
_ACTIVE = frozenset({RunStatus.PENDING.value, RunStatus.RUNNING.value})


@dataclass
class _Tracked:
    run: Run
    cursor: str = "0-0"
    writer: RunLogWriter | None = None
    started: bool = False
    progress_at: float = 0.0
    owner: str | None = None  # the worker that claimed it, read when its first events came
    extra: dict[str, Any] = field(default_factory=dict)


class StreamIngest(Loop):
    """Consumes the event streams of remote runs; one per server.

    A loop with no pause between rounds: each round blocks in XREAD until events come."""

    name = "celery-ingest"

    def __init__(
        self,
        runs: RunStore,
        settlement: Settlement,
        logs: RunLogs,
        fanout: EventFanout,
        keys: RedisKeys,
        client: aredis.Redis,
        sync_client: redis.Redis,
        timings: bool = False,
    ) -> None:
        """`timings`: log when each run's `complete` was ingested and settled."""
        super().__init__(0.0, retry_after=1.0)
        self._timings = timings
        self._runs = runs
        self._settlement = settlement
        self._logs = logs
        self._fanout = fanout
        self._keys = keys
        self._redis = client
        self._sync = sync_client
        self._tracked: dict[str, _Tracked] = {}
        self._refreshed = 0.0
        self._monitored = 0.0
        self.error: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakes: set[asyncio.Task[Any]] = set()
        self._wake_sent = False  # a wake-up went out since this round began (loop thread)
        self._wake_cursor = "0-0"  # the last wake-up read (the first round reads any left)
        self._fresh: deque[str] = deque()  # runs submitted since the last round

    def poke(self, run_id: str | None = None) -> None:
        """Run `run_id` was submitted: follow it now; without a run id, re-read every active
        run now (from any thread).

        The round blocked in XREAD is ended by an entry in the wake-up stream it also reads,
        so a new run is followed at once, not when the read times out. One entry per round
        is enough (a burst of submissions costs one XADD, not one each): the next read
        returns any entry after the last one read, even one added before it began, and the
        round after it follows every run submitted until then."""
        if run_id is None:
            self._refreshed = 0.0
        else:
            self._fresh.append(run_id)
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: nothing to wake
                loop.call_soon_threadsafe(self._send_wake)

    def _send_wake(self) -> None:
        if self._wake_sent:
            return
        self._wake_sent = True
        task = asyncio.create_task(self._post_wake())
        self._wakes.add(task)
        task.add_done_callback(self._wakes.discard)

    async def _post_wake(self) -> None:
        with contextlib.suppress(redis.RedisError):  # Redis away: the round times out instead
            await self._redis.xadd(self._keys.ingest_wake, {"w": "1"}, maxlen=16)

    @property
    def running(self) -> int:
        """Remote runs the server knows are executing."""
        return sum(1 for t in self._tracked.values() if t.started)

    async def run_once(self) -> None:
        await self.step()

    def succeeded(self) -> None:
        if self.error is not None:
            log.warning("redis reachable again; ingesting remote runs")
        self.error = None

    def failed(self, exc: Exception) -> None:
        """Redis or database trouble is logged (Redis once per outage) and retried."""
        if isinstance(exc, redis.RedisError):
            if self.error is None:
                log.error("redis unreachable, remote runs wait: %s", exc)
            self.error = str(exc) or type(exc).__name__
        else:
            log.exception("ingesting remote run events failed; retrying")

    async def step(self) -> None:
        """One round: refresh the active runs, read what is new, check liveness."""
        self._loop = asyncio.get_running_loop()
        self._wake_sent = False  # before the fresh runs are taken: a later poke wakes again
        now = time.monotonic()
        if now - self._refreshed >= _REFRESH:
            self._refreshed = now
            self._fresh.clear()  # the whole read sees them (submitted after their commit)
            await asyncio.to_thread(self._refresh)
        elif self._fresh:
            await asyncio.to_thread(self._follow_fresh)
        cursors = {self._keys.events(i): t.cursor for i, t in self._tracked.items()}
        # Every wake-up after the last one read counts, also one sent before this read began.
        cursors[self._keys.ingest_wake] = self._wake_cursor
        block = _BLOCK_MS if self._tracked else _IDLE_BLOCK_MS
        # decode_responses is off: keys come back as bytes.
        found = await self._redis.xread(cursors, count=_BATCH, block=block)  # type: ignore[arg-type]
        self._wake_cursor = last_id_of(found, self._keys.ingest_wake) or self._wake_cursor
        await self._ingest(streams(found))
        if time.monotonic() - self._monitored >= _MONITOR:
            await self._check_liveness()
            self._monitored = time.monotonic()

    def _refresh(self) -> None:
        active = {r.id: r for r in self._runs.active()}
        gone = [run_id for run_id in self._tracked if run_id not in active]
        for run_id in gone:  # settled elsewhere (cancelled while PENDING, ...)
            self._forget(run_id)
        if gone:  # sealed secrets nobody claimed: no run to hand them to any more
            self._sync.delete(*[self._keys.secrets(run_id) for run_id in gone])
        for run_id, run in active.items():
            tracked = self._tracked.get(run_id)
            if tracked is None:
                self._tracked[run_id] = _Tracked(run, started=run.status == RunStatus.RUNNING)
            else:
                tracked.run = run

    def _follow_fresh(self) -> None:
        """Follow the runs submitted since the last round (one row each, not every active
        run for each submission of a burst)."""
        fresh = []
        while self._fresh:
            run_id = self._fresh.popleft()
            if run_id not in self._tracked:
                fresh.append(run_id)
        for run in self._runs.get_many(fresh):  # one query for all of them
            if run.status in _ACTIVE and run.id not in self._tracked:
                self._tracked[run.id] = _Tracked(run, started=run.status == RunStatus.RUNNING)

    def _forget(self, run_id: str) -> None:
        tracked = self._tracked.pop(run_id, None)
        if tracked is not None and tracked.writer is not None:
            tracked.writer.close()

    async def _ingest(self, found: list[tuple[str, Entries]]) -> None:
        """Persist what one read brought for every run: one thread call for all the runs,
        then one Redis round trip that trims (or, for completed runs, deletes) their streams."""
        batch: list[tuple[_Tracked, list[bytes], bytes]] = []
        for run_id, entries in found:
            tracked = self._tracked.get(run_id)
            if tracked is None or not entries:
                continue
            lines: list[bytes] = []
            for _entry_id, fields in entries:
                lines += [line for line in fields.get(_FIELD, b"").split(b"\n") if line]
            batch.append((tracked, lines, entries[-1][0]))
        if not batch:
            return
        await self._claimed_by([tracked for tracked, _lines, _last in batch if not tracked.started])
        done, error = await asyncio.to_thread(self._persist_all, batch)
        pipe = self._redis.pipeline(transaction=False)
        for (tracked, _lines, last_id), completed in zip(batch, done, strict=False):
            run_id = tracked.run.id
            tracked.cursor = last_id.decode()
            key = self._keys.events(run_id)
            if completed:
                self._forget(run_id)
                pipe.delete(key)
            else:
                # Everything up to last_id is in the log file now; the stream keeps the rest.
                pipe.xtrim(key, minid=last_id)
        if done:
            await pipe.execute()
        if error is not None:
            raise error  # the runs after it are read again next round (seq skips repeats)

    def _persist_all(
        self, batch: list[tuple[_Tracked, list[bytes], bytes]]
    ) -> tuple[list[bool], Exception | None]:
        """`_persist` for each run in turn, up to the first that fails (and why)."""
        done: list[bool] = []
        for tracked, lines, _last in batch:
            try:
                done.append(self._persist(tracked, lines))
            except Exception as exc:
                return done, exc
        return done, None

    def _persist(self, tracked: _Tracked, lines: list[bytes]) -> bool:
        """Append to the log, publish, mirror into the DB; True when the run completed.

        Whole events numbered one by one (what workers send) go into the log file as they
        came; only the events someone needs are parsed: all of them while the run has live
        viewers, else all but output lines (status, metrics, errors, `complete`)."""
        run = tracked.run
        if tracked.writer is None:
            tracked.writer = RunLogWriter(self._logs.log_path(run.id))
        watched = run.id in self._fanout.subscriber_counts()
        picked = fresh_lines(lines, tracked.writer.seq)
        if picked is not None:
            kept, last = picked
            if not kept:
                return False
            fresh = [
                orjson.loads(line) for line in kept if watched or not line.startswith(_LOG_LINE)
            ]
            tracked.writer.append_lines(b"\n".join(kept) + b"\n", last)
        else:
            events, bad = parse_entry(b"\n".join(lines))
            if bad:
                log.warning("run %s: skipped %d malformed event(s) of its stream", run.id, bad)
            fresh = tracked.writer.append_numbered([e for e in events if "seq" in e])
            if not fresh:
                return False
        complete = next((e for e in fresh if e.get("type") == ev.COMPLETE), None)
        started: dict[str, Any] = {}  # began and ended within one read: finish says both
        if not tracked.started:
            if complete is None:
                self._mark_started(tracked, fresh)
            else:
                started = started_fields(tracked.owner, fresh)
        if watched and fresh:
            self._fanout.publish(run.id, fresh)
        write_samples(self._logs.metrics_path(run.id), fresh)
        chosen = next((e["executor"] for e in fresh if names_executor(e)), None)
        if chosen is not None and chosen != run.executor:
            self._runs.update(run.id, executor=chosen)  # the worker's EXECUTOR overrode it
        if complete is not None:
            tracked.writer.close()
            tracked.writer = None
            clock = StageClock(run.id, "server", self._timings)
            clock.mark("ingested")
            self._fanout.finish(run.id)
            self._settlement.settle_remote(run, complete, started)
            clock.mark("settled")
            clock.log()
            return True
        self._mirror_progress(tracked, fresh)
        return False

    async def _claimed_by(self, starting: list[_Tracked]) -> None:
        """Which worker claimed each of these runs (their first events are in), in one
        round trip for all; logs the hand-over of a run's sealed secrets when its claim
        took them (a worker that asked over HTTP was logged by the route)."""
        if not starting:
            return
        pipe = self._redis.pipeline(transaction=False)
        for tracked in starting:
            key = self._keys.secrets(tracked.run.id)
            pipe.get(self._keys.claim(tracked.run.id))
            pipe.hgetall(key)
            pipe.delete(key)  # the run started: nothing in it is needed any more
        found = await pipe.execute()
        for i, tracked in enumerate(starting):
            owner, fields = found[3 * i], found[3 * i + 1]
            tracked.owner = owner.decode() if isinstance(owner, bytes) else None
            audit_hand_over(tracked.run.id, tracked.run.pipeline_name, fields)

    def _mirror_progress(self, tracked: _Tracked, events: list[ev.Event]) -> None:
        now = time.monotonic()
        if now - tracked.progress_at < _PROGRESS_DB_INTERVAL:
            return
        event = latest_progress(events)
        if event is not None:
            tracked.progress_at = now
            self._runs.update(
                tracked.run.id, progress=event["progress"], progress_text=event.get("text")
            )

    def _mark_started(self, tracked: _Tracked, events: list[ev.Event]) -> None:
        """PENDING → RUNNING, with the progress its first events report (0 at least)."""
        event = latest_progress(events) or {}
        progress, text = event.get("progress"), event.get("text")
        if self._runs.mark_started(tracked.run.id, tracked.owner, progress, text) and event:
            tracked.progress_at = time.monotonic()  # written: not again before the interval
        tracked.started = True

    async def _check_liveness(self) -> None:
        """Settle runs whose claiming worker stopped beating (after draining their stream)."""
        ids = list(self._tracked)
        if not ids:
            return
        owners = await self._redis.mget([self._keys.claim(i) for i in ids])
        # Every owner's heartbeat record at once (one round trip, not one per run).
        named = sorted({o for o in owners if isinstance(o, bytes)})
        pipe = self._redis.pipeline(transaction=False)
        for name in named:
            pipe.exists(self._keys.worker(name.decode()))
        beating = dict(zip(named, await pipe.execute(), strict=True)) if named else {}
        for run_id, raw_owner in zip(ids, owners, strict=True):
            owner = raw_owner if isinstance(raw_owner, bytes) or raw_owner is None else b""
            tracked = self._tracked.get(run_id)
            if tracked is None:
                continue
            if owner is None:
                if tracked.started:
                    # RUNNING but no claim: Redis lost its data (restart without persistence).
                    await self._lose(
                        run_id, "Redis lost the run's state (restarted without its data)"
                    )
                continue
            if not beating.get(owner):
                await self._lose(
                    run_id,
                    f"worker {owner.decode()} stopped sending heartbeats while running this run; "
                    "its output after that point is lost",
                )

    async def _lose(self, run_id: str, message: str) -> None:
        key = self._keys.events(run_id)
        tracked = self._tracked.get(run_id)
        if tracked is None:
            return
        # Whatever the worker sent before it died goes into the log first.
        found = await self._redis.xread({key: tracked.cursor}, count=100_000)
        await self._ingest(streams(found))
        tracked = self._tracked.get(run_id)
        if tracked is None:
            return  # it completed after all
        log.warning("run %s: %s", run_id, message)
        self._forget(run_id)
        await asyncio.to_thread(self._settlement.settle_failed, tracked.run, message)
        await self._redis.delete(key)
