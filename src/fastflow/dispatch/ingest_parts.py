"""Small pieces of the server's ingest of remote runs' streams (`celery_ingest`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from fastflow.events import types as ev
from fastflow.records import utcnow

Entries = list[tuple[bytes, dict[bytes, bytes]]]
_NOT_SAMPLE = frozenset({"type", "ts", "seq"})  # event fields that are not the sample's


def streams(found: Any) -> list[tuple[str, Entries]]:
    """XREAD's answer as (run id, entries); keys are `prefix:run:{id}:events` bytes."""
    return [(key.decode().split(":")[-2], entries) for key, entries in found or []]


def last_id_of(found: Any, key: str) -> str | None:
    """The id of the last entry XREAD's answer `found` holds for stream `key`, or None."""
    wanted = key.encode()
    for name, entries in found or []:
        if name == wanted and entries:
            return str(entries[-1][0].decode())
    return None


def latest_progress(events: list[ev.Event]) -> ev.Event | None:
    """The newest status event that reports progress, or None."""
    for event in reversed(events):
        if event.get("type") == ev.STATUS and "progress" in event:
            return event
    return None


def started_fields(worker: str | None, events: list[ev.Event]) -> dict[str, Any]:
    """What marking a run started writes (the worker, when, the progress `events` report),
    for a run whose first events and `complete` came in one read: its settlement writes
    them in the same UPDATE as its end."""
    fields: dict[str, Any] = {"started_at": utcnow(), "worker": worker}
    progress = latest_progress(events)
    if progress is not None:
        fields.update(progress=progress["progress"], progress_text=progress.get("text"))
    return fields


def names_executor(event: ev.Event) -> bool:
    """A status event saying which executor really runs the run (the worker's EXECUTOR)."""
    return event.get("type") == ev.STATUS and isinstance(event.get("executor"), str)


def write_samples(path: Path, events: list[ev.Event]) -> None:
    """Samples into the run's metrics file `path`, as a local executor writes them.

    The server writes the file from the stream (the worker's own copy stays on the worker),
    so `/api/runs/{id}/metrics` works for remote runs and a replay adds nothing twice:
    only events new to the log file arrive here.
    """
    samples = [
        {k: v for k, v in e.items() if k not in _NOT_SAMPLE}
        for e in events
        if e.get("type") == ev.METRICS
    ]
    if not samples:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(b"".join(orjson.dumps(sample) + b"\n" for sample in samples))
