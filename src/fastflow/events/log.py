"""A run's log file: JSON lines, one event per line, `seq` strictly increasing from 1.

The file is the source of truth for everything a run emitted; live streams are views of it.
Reading a seq range uses a binary search over byte offsets, so resuming from any seq in a
log of millions of lines costs a few reads, not a scan.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import orjson

from fastflow.events.types import LOG, Event

_TAIL_CHUNK = 64 * 1024


class RunLogWriter:
    """Appends events to one run's log file, assigning sequence numbers.

    One writer per run; it is not shared between threads. Reopening an existing file
    continues after its last seq (a re-attached run never repeats a number).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.seq = last_seq(path) if path.exists() else 0
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115  (closed in close())
        self.bytes_written = self._file.tell()

    def append(self, events: list[dict[str, Any]]) -> list[Event]:
        """Number and persist a batch of events with one write; returns them with `seq`."""
        seq = self.seq
        dumps, newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE
        chunks = []
        for event in events:
            seq += 1
            event["seq"] = seq
            chunks.append(dumps(event, option=newline))
        self.seq = seq
        if chunks:
            data = b"".join(chunks)
            self._file.write(data)
            self._file.flush()
            self.bytes_written += len(data)
        return events

    def append_log_lines(self, ts: float, stream: str, texts: list[str]) -> int:
        """Number and persist whole output lines without building an event per line.

        Writes exactly what `append` writes for `{"type": "log", "ts", "stream", "line"}`
        events (the same keys in the same order), with one small `orjson.dumps` per line
        instead of a dict and its encoding. Returns the bytes written."""
        if not texts:
            return 0
        dumps = orjson.dumps
        head = b'{"type":"log","ts":%s,"stream":%s,"line":' % (dumps(ts), dumps(stream))
        seq = self.seq
        data = b"".join(
            [
                b'%s%s,"seq":%d}\n' % (head, dumps(text), number)
                for number, text in enumerate(texts, seq + 1)
            ]
        )
        self.seq = seq + len(texts)
        self._file.write(data)
        self._file.flush()
        self.bytes_written += len(data)
        return len(data)

    def append_lines(self, data: bytes, last_seq: int) -> None:
        """Persist whole JSON lines numbered elsewhere, as they are (see `fresh_lines`)."""
        self._file.write(data)
        self._file.flush()
        self.bytes_written += len(data)
        self.seq = last_seq

    def append_numbered(self, events: list[Event]) -> list[Event]:
        """Persist events numbered elsewhere (a worker); those at or below `seq` are skipped.

        Skipping makes ingesting idempotent: replaying a stream after a restart never
        writes an event twice.
        """
        fresh = [e for e in events if int(e["seq"]) > self.seq]
        if fresh:
            data = b"".join(orjson.dumps(e) + b"\n" for e in fresh)
            self._file.write(data)
            self._file.flush()
            self.bytes_written += len(data)
            self.seq = int(fresh[-1]["seq"])
        return fresh

    def close(self) -> None:
        # No fsync: a crashed process loses nothing the kernel already has; fsync per run
        # would cost milliseconds on every trivial run for protection against power loss only.
        if not self._file.closed:
            self._file.close()


def fresh_lines(lines: list[bytes], after: int) -> tuple[list[bytes], int] | None:
    """Of numbered events as JSON lines in seq order, those after seq `after`, and the last
    one's seq, reading only the first and last line; None when the lines are not whole
    events numbered one by one (then they are to be parsed one by one)."""
    if not lines:
        return [], after
    last = _seq_of(lines[-1])
    if last is None:
        return None
    if last <= after:
        return [], after
    fresh = lines[max(0, len(lines) - (last - after)) :]
    first = _seq_of(fresh[0])
    if first is None or first <= after or first != last - len(fresh) + 1:
        return None
    return fresh, last


def _seq_of(line: bytes) -> int | None:
    event = _parse(line)
    seq = None if event is None else event["seq"]
    return seq if isinstance(seq, int) else None


def _parse(line: bytes) -> Event | None:
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError:
        # A torn last line after a crash: everything before it is intact, skip it.
        return None
    return event if isinstance(event, dict) and "seq" in event else None


def last_seq(path: Path) -> int:
    """The seq of the last complete event in the file (0 when empty)."""
    with open(path, "rb") as f:
        end = f.seek(0, os.SEEK_END)
        pos = end
        buf = b""
        while pos > 0:
            step = min(_TAIL_CHUNK, pos)
            pos -= step
            f.seek(pos)
            buf = f.read(step) + buf
            lines = buf.split(b"\n")
            # lines[0] may be cut unless we reached the file start.
            candidates = lines if pos == 0 else lines[1:]
            for line in reversed(candidates):
                if line.strip():
                    event = _parse(line)
                    if event is not None:
                        return int(event["seq"])
            buf = lines[0] if pos > 0 else b""
    return 0


def _seq_at(f: IO[bytes], offset: int) -> tuple[int, int] | None:
    """First complete event starting at or after `offset`: (its start offset, its seq)."""
    f.seek(offset)
    if offset > 0:
        f.readline()  # finish the line we landed in
    while True:
        start = f.tell()
        line = f.readline()
        if not line:
            return None
        event = _parse(line)
        if event is not None:
            return start, int(event["seq"])


def _offset_of(f: IO[bytes], seq: int, size: int) -> int:
    """Byte offset of the first event with seq >= `seq` (binary search on line starts)."""
    lo, hi = 0, size
    while hi - lo > _TAIL_CHUNK:
        mid = (lo + hi) // 2
        found = _seq_at(f, mid)
        if found is None or found[1] >= seq:
            hi = mid
        else:
            lo = found[0]
    return lo


def read_events(
    path: Path,
    from_seq: int = 1,
    to_seq: int | None = None,
    types: frozenset[str] | None = None,
    limit: int | None = None,
) -> Iterator[Event]:
    """Events with from_seq <= seq <= to_seq in order, optionally only some types."""
    if not path.exists():
        return
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        # _offset_of always answers a line start, so every line read from there is whole.
        f.seek(_offset_of(f, from_seq, size) if from_seq > 1 else 0)
        count = 0
        for line in f:
            event = _parse(line)
            if event is None:
                continue
            seq = event["seq"]
            if seq < from_seq:
                continue
            if to_seq is not None and seq > to_seq:
                return
            if types is not None and event.get("type") not in types:
                continue
            yield event
            count += 1
            if limit is not None and count >= limit:
                return


def tail_log_lines(path: Path, count: int) -> list[Event]:
    """The last `count` log-line events (reads backwards; cheap on huge files)."""
    last = last_seq(path) if path.exists() else 0
    if last == 0 or count <= 0:
        return []
    window = max(count * 2, 256)
    while True:
        start = max(1, last - window + 1)
        lines = [e for e in read_events(path, start, last) if e.get("type") == LOG]
        if len(lines) >= count or start == 1:
            return lines[-count:]
        window *= 4


def format_log_text(events: list[Event] | Iterator[Event]) -> Iterator[str]:
    """Render log-line events as plain text, joining fragments of over-long lines."""
    for event in events:
        if event.get("type") != LOG:
            continue
        yield event["line"] if event.get("partial") else event["line"] + "\n"
