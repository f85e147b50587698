"""RedisStreamWriter: a worker's `EventWriter` — numbers events and XADDs them to the run's stream.

The server ingests the stream into the run's log file (see `fastflow.dispatch.celery_ingest`),
so the seq a worker assigns is the seq every viewer sees. A stream entry holds a batch of
events as JSON lines (one XADD per batch, not per line); lines the run's supervisor already
wrote as JSON are sent as they are, never decoded and encoded again. When Redis is
unreachable the events wait in memory, in order, and go out with the next batch that gets
through: the run keeps going and nothing is lost while the worker lives.
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
FIELD = "e"  # each stream entry holds events as JSON lines in this field
_ENTRY_BYTES = 512 * 1024  # a batch larger than this goes out as several entries


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
            data = orjson.dumps(event, option=orjson.OPT_APPEND_NEWLINE)
            self.bytes_written += len(data)  # as the server's log file will grow
            self._pending.append(data)
        self.flush()
        return events

    def append_numbered(self, events: list[Event]) -> None:
        """Send events numbered elsewhere (the run's supervisor), keeping their `seq`."""
        newline = orjson.OPT_APPEND_NEWLINE
        for event in events:
            data = orjson.dumps(event, option=newline)
            self.bytes_written += len(data)
            self._pending.append(data)
        if events:
            self.seq = max(self.seq, int(events[-1]["seq"]))
        self.flush()

    def append_lines(self, data: bytes) -> None:
        """Send whole JSON lines of numbered events as they are (a log file's bytes)."""
        if data:
            self.bytes_written += len(data)
            self._pending.append(data)
            self.flush()

    def flush(self) -> bool:
        """Send buffered events; True when nothing is left to send."""
        if not self._pending:
            return True
        try:
            pipe = self._client.pipeline(transaction=False)
            for data in _entries(self._pending):
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


def _entries(pending: list[bytes]) -> list[bytes]:
    """The pending lines joined into entries of about `_ENTRY_BYTES` (a line is never cut)."""
    entries: list[bytes] = []
    batch: list[bytes] = []
    size = 0
    for data in pending:
        if batch and size + len(data) > _ENTRY_BYTES:
            entries.append(b"".join(batch))
            batch, size = [], 0
        batch.append(data)
        size += len(data)
    if batch:
        entries.append(b"".join(batch))
    return entries


def parse_entry(data: bytes) -> tuple[list[Event], int]:
    """The events of one stream entry, and how many of its lines were unreadable."""
    events: list[Event] = []
    bad = 0
    loads = orjson.loads
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            event = loads(line)
        except orjson.JSONDecodeError:
            bad += 1
            continue
        if isinstance(event, dict):
            events.append(event)
        else:
            bad += 1
    return events, bad
