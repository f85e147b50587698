"""A container's output as frames with a position, so a re-attached run repeats no line.

The engine keeps every line a container prints. Each frame read with `timestamps=True` starts
with its timestamp; the position of a frame is (timestamp in ns, index among the frames of
that stream with the same timestamp) — Podman's timestamps have whole seconds only, so the
index tells apart lines printed in the same second. Every log event the docker executor
records carries the position of the frame that completed it (`cpos`); after a restart, the
last such position in the run's log file says where to continue, and `since=` (whole
seconds, inclusive on both engines) re-reads only from that second on.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastflow.events import types as ev
from fastflow.events.log import last_seq, read_events
from fastflow.executors.docker_stats import parse_ts_ns

Position = tuple[int, int]  # (timestamp ns, index among frames with that timestamp)
_WINDOW = 2048


@dataclass(frozen=True)
class Frame:
    stream: str
    position: Position
    data: bytes


def split_frame(frame: bytes) -> tuple[int, bytes]:
    """b'2024-01-01T00:00:00.5Z text' → (ns, b'text')."""
    head, _, rest = frame.partition(b" ")
    return parse_ts_ns(head.decode("ascii", errors="replace")), rest


class FramePositions:
    """Assigns positions to one stream's frames in order."""

    def __init__(self) -> None:
        self._ts = -1
        self._index = -1

    def next(self, ts_ns: int) -> Position:
        if ts_ns == self._ts:
            self._index += 1
        else:
            self._ts, self._index = ts_ns, 0
        return (ts_ns, self._index)


@dataclass(frozen=True)
class Resume:
    """Where one stream of a re-attached run continues."""

    after: Position | None  # frames at or before this were recorded already
    continuing: bool  # the last recorded event was a partial fragment of a long line


def resume_points(log_path: Path, streams: tuple[str, ...]) -> dict[str, Resume]:
    """The last recorded position per stream, reading the log file backwards in windows."""
    found: dict[str, Resume] = {}
    if not log_path.exists():
        return {s: Resume(None, False) for s in streams}
    end = last_seq(log_path)
    while end > 0 and len(found) < len(streams):
        start = max(1, end - _WINDOW + 1)
        window = list(read_events(log_path, start, end))
        for event in reversed(window):
            stream = event.get("stream")
            pos = event.get("cpos")
            if stream in streams and stream not in found and isinstance(pos, list):
                continuing = event.get("type") == ev.LOG and bool(event.get("partial"))
                found[stream] = Resume((int(pos[0]), int(pos[1])), continuing)
        end = start - 1
    return {s: found.get(s, Resume(None, False)) for s in streams}


def open_stream(container: Any, stream: str, resume: Resume | None) -> Any:
    """The SDK's (closeable) log stream for one of stdout/stderr."""
    kwargs: dict[str, Any] = {
        "stream": True,
        "follow": True,
        "timestamps": True,
        "stdout": stream == "stdout",
        "stderr": stream == "stderr",
    }
    if resume is not None and resume.after is not None:
        kwargs["since"] = resume.after[0] // 1_000_000_000
    return container.logs(**kwargs)


def frames_of(raw: Any, stream: str, resume: Resume | None) -> Iterator[Frame]:
    """Position every frame of `raw`; skip those recorded before the restart."""
    positions = FramePositions()
    after = resume.after if resume is not None else None
    for chunk in raw:
        try:
            ts, data = split_frame(chunk)
        except ValueError:
            continue  # not a frame we understand (never seen; safer than a wrong position)
        pos = positions.next(ts)
        if after is not None and pos <= after:
            continue
        yield Frame(stream, pos, data)
