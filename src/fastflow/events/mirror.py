"""A worker's event writer: the run's local log file, mirrored to the run's Redis stream.

On a worker, a local run's supervisor writes the run's events into a log file on the worker
(as on the server); the worker relays what it appends to the Redis stream the server ingests.
Events the worker records itself (before and after the supervisor) go through this writer:
numbered into the same file, so the supervisor continues after them, and sent to the stream
with the same numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastflow.events.log import RunLogWriter
from fastflow.events.redis_sink import RedisStreamWriter
from fastflow.events.types import Event


class MirroredWriter:
    """Numbers into the local log file, then sends the same events to the stream."""

    def __init__(self, path: Path, stream: RedisStreamWriter) -> None:
        self._file = RunLogWriter(path)
        self._stream = stream

    @property
    def seq(self) -> int:
        return self._file.seq

    @property
    def bytes_written(self) -> int:
        return self._file.bytes_written

    def append(self, events: list[dict[str, Any]]) -> list[Event]:
        numbered = self._file.append(events)
        self._stream.append_numbered(numbered)
        return numbered

    def close(self) -> None:
        """Close the file; what the stream could not send yet waits for the next batch (the
        worker closes the stream itself at the run's end, retrying while Redis is away)."""
        self._file.close()
        self._stream.flush()
