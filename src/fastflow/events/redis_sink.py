"""RedisStreamWriter: a worker's `EventWriter` — numbers events and XADDs them to the run's stream.

The server ingests the stream into the run's log file (see `fastflow.dispatch.celery_ingest`),
so the seq a worker assigns is the seq every viewer sees. When Redis is unreachable the
events wait in memory, in order, and go out with the next batch that gets through: the run
keeps going and nothing is lost while the worker lives.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
import redis

from fastflow.events.types import Event

log = logging.getLogger(__name__)

_ORPHAN_TTL = 7 * 24 * 3600
FIELD = "e"  # each stream entry holds one event as JSON in this field


class RedisStreamWriter:
    """Appends a run's events to one Redis stream, numbering them from `start_seq + 1`."""

    def __init__(
        self, client: redis.Redis, stream: str, start_seq: int = 0, close_timeout: float = 60.0
    ) -> None:
        self._client = client
        self.stream = stream
        self.seq = start_seq
        self.bytes_written = 0
        self._pending: list[bytes] = []
        self._close_timeout = close_timeout
        self._warned = False

    def append(self, events: list[dict[str, Any]]) -> list[Event]:
        """Number the batch and send everything not yet sent; never raises for Redis errors."""
        for event in events:
            self.seq += 1
            event["seq"] = self.seq
            data = orjson.dumps(event)
            self.bytes_written += len(data) + 1  # as the server's log file will grow
            self._pending.append(data)
        self.flush()
        return events

    def append_numbered(self, events: list[Event]) -> None:
        """Send events numbered elsewhere (the run's supervisor), keeping their `seq`."""
        for event in events:
            data = orjson.dumps(event)
            self.bytes_written += len(data) + 1
            self._pending.append(data)
        if events:
            self.seq = max(self.seq, int(events[-1]["seq"]))
        self.flush()

    def flush(self) -> bool:
        """Send buffered events; True when nothing is left to send."""
        if not self._pending:
            return True
        try:
            pipe = self._client.pipeline(transaction=False)
            for data in self._pending:
                pipe.xadd(self.stream, {FIELD: data})
            # A stream the server never ingests (its run was settled meanwhile) goes away.
            pipe.expire(self.stream, _ORPHAN_TTL)
            pipe.execute()
        except redis.RedisError as exc:
            # Part of the batch may have gone out; resending it is harmless because the
            # server skips every seq it has already written.
            if not self._warned:
                log.warning("events of %s wait for Redis: %s", self.stream, exc)
                self._warned = True
            return False
        self._pending.clear()
        self._warned = False
        return True

    def close(self) -> None:
        """Deliver what is left, retrying for a while (a Redis restart takes seconds)."""
        deadline = time.monotonic() + self._close_timeout
        while not self.flush():
            if time.monotonic() > deadline:
                log.error("%s: %d event(s) could not be delivered", self.stream, len(self._pending))
                return
            time.sleep(0.5)
