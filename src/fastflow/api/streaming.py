"""What the SSE and WebSocket routes share: opening a run's stream and its wire messages.

Wire format (both transports): JSON objects with `type` and `seq`.

- ``log``: ``{"type": "log", "seq": <last>, "lines": [<log event>, ...]}`` — consecutive
  lines are batched; each line keeps its own ``seq``, ``ts``, ``stream``, ``line``.
- ``status``, ``metrics``, ``error``, ``complete``: the event as stored in the log file.
- ``gap``: ``{"type": "gap", "seq": to_seq, "from_seq", "to_seq", "count", "url"}`` — log
  lines over the rate limit, fetchable at ``url``.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from fastflow.events import types as ev
from fastflow.events.log import last_seq
from fastflow.events.pages import LogPages
from fastflow.events.stream import Batch, Gap, RunEventStream, StreamItem
from fastflow.models import RunStatus
from fastflow.monitoring.counters import count_gap
from fastflow.services import Services

Message = tuple[str, int, bytes]
"""(type, seq, JSON payload) of one wire message."""


# One for the process: viewers of a run catching up from its file share parsed pages.
_PAGES = LogPages()


@dataclass
class OpenedStream:
    """A run's stream, and whether there is nothing left to send (the run is over and the
    client already has its last event)."""

    stream: RunEventStream
    nothing_left: bool


def run_stream(services: Services, run_id: str, since: int) -> OpenedStream:
    """A stream of `run_id` after `since` (raises NotFoundError for an unknown run); the run
    is read once."""
    run_service = services.run_service
    run = run_service.get(run_id)  # the id reaches the file system only once it is known
    path = run_service.log_of(run)
    settings = services.settings

    async def finished() -> bool:
        current = await asyncio.to_thread(run_service.get, run.id)
        return RunStatus(current.status).is_terminal

    stream = RunEventStream(
        run.id,
        path,
        services.fanout,
        since=since,
        pages=_PAGES,
        rate_limit=settings.log_stream_rate_limit,
        tick=settings.stream_keepalive,
        run_finished=finished,
    )
    over = RunStatus(run.status).is_terminal and (not path.exists() or last_seq(path) <= since)
    return OpenedStream(stream, over)


@dataclass
class _Encoded:
    messages: list[Message]
    sse: bytes | None = None

    @property
    def size(self) -> int:
        return sum(len(payload) for _, _, payload in self.messages) + len(self.sse or b"")


@dataclass
class Encoder:
    """Turns stream items into wire messages; a batch is encoded once for all its viewers.

    Live viewers of one run receive the very same batches from the fan-out; a batch is
    identified by (run, first seq, last seq, length), so its messages — and their SSE framing
    — are built once and shared, and a viewer costs little more than its socket writes. The
    cache is bounded by bytes, so the server's memory does not grow with the logs it streams.
    """

    max_cached_bytes: int = 16 * 1024 * 1024

    def __post_init__(self) -> None:
        self._cache: OrderedDict[tuple[str, int, int, int], _Encoded] = OrderedDict()
        self._cached_bytes = 0

    def messages(self, run_id: str, item: StreamItem) -> list[Message]:
        if item is None:
            return []
        if isinstance(item, Gap):
            count_gap(item.count)
            return [("gap", item.to_seq, orjson.dumps(gap_message(run_id, item)))]
        return self._encoded(run_id, item).messages

    def sse(self, run_id: str, item: StreamItem) -> bytes:
        """The item as SSE frames (`id:` = seq, `event:` = type)."""
        if isinstance(item, Batch) and item.events:
            encoded = self._encoded(run_id, item)
            if encoded.sse is None:
                encoded.sse = b"".join(sse_frame(*m) for m in encoded.messages)
                self._cached_bytes += len(encoded.sse)
            return encoded.sse
        return b"".join(sse_frame(*m) for m in self.messages(run_id, item))

    def _encoded(self, run_id: str, batch: Batch) -> _Encoded:
        events = batch.events
        key = (run_id, events[0]["seq"], events[-1]["seq"], len(events))
        found = self._cache.get(key)
        if found is None:
            found = _Encoded(list(_encode(events)))
            self._cache[key] = found
            self._cached_bytes += found.size
            while self._cached_bytes > self.max_cached_bytes and len(self._cache) > 1:
                _, dropped = self._cache.popitem(last=False)
                self._cached_bytes -= dropped.size
        return found


def _encode(events: list[ev.Event]) -> Iterator[Message]:
    """Consecutive log lines become one `log` message; other events one message each."""
    lines: list[ev.Event] = []
    for event in events:
        if event["type"] == ev.LOG:
            lines.append(event)
            continue
        if lines:
            yield _log_message(lines)
            lines = []
        yield event["type"], event["seq"], orjson.dumps(event)
    if lines:
        yield _log_message(lines)


def _log_message(lines: list[ev.Event]) -> Message:
    last = lines[-1]["seq"]
    return ev.LOG, last, orjson.dumps({"type": ev.LOG, "seq": last, "lines": lines})


def sse_frame(kind: str, seq: int | None, payload: bytes) -> bytes:
    """One SSE event; `id:` carries the seq so a reconnect resumes after it."""
    head = f"id: {seq}\nevent: {kind}\n" if seq is not None else f"event: {kind}\n"
    return head.encode() + b"data: " + payload + b"\n\n"


def gap_message(run_id: str, gap: Gap) -> dict[str, object]:
    return {
        "type": "gap",
        "seq": gap.to_seq,
        "from_seq": gap.from_seq,
        "to_seq": gap.to_seq,
        "count": gap.count,
        "url": f"/api/runs/{run_id}/logs?from_seq={gap.from_seq}&to_seq={gap.to_seq}",
    }


def connected_message(run_id: str, since: int, transport: str) -> bytes:
    return orjson.dumps(
        {
            "type": "connected",
            "run_id": run_id,
            "seq": since,
            "message": f"connected to run {run_id} ({transport}), events after seq {since}",
        }
    )
