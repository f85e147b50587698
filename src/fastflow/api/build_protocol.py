"""The live build protocol: the WebSocket's default messages, one per log line.

What build dashboards written against a "live build log" WebSocket expect (and what
`BuildLogStream` in the served JS client speaks):

- ``connected``: ``{"type", "build_id", "run_id", "seq", "message"}`` (``build_id`` is the
  run id);
- ``log``: ``{"type", "text", "timestamp", "seq", "stream"}`` — one message per line
  (``partial: true`` marks a fragment of an over-long line);
- ``status``: ``{"type", "status", "progress", "timestamp", "seq", "text"?}`` — ``progress``
  is always a number (the last one reported); a final one with ``SUCCESS`` or ``FAILED``
  (``run_status`` names CANCELLED / TIMED_OUT, ``final: true``) comes right before
  ``complete`` and shares its seq;
- ``error``: ``{"type", "error", "timestamp", "seq"}``;
- ``complete``: ``{"type", "success", "artifacts", "timestamp", "seq", "status",
  "exit_code", "failure_kind", "error"}`` — always the last;
- ``metrics`` with ``timestamp``; ``gap`` as in the batched format.

The batched format (``?batch=1``: several lines per ``log`` message) is `streaming.Encoder`'s.
"""

from __future__ import annotations

from typing import Any

import orjson

from fastflow.api.streaming import gap_message
from fastflow.events import types as ev
from fastflow.events.stream import Gap, StreamItem
from fastflow.models import RunStatus
from fastflow.monitoring.counters import count_gap


def connected(run_id: str, since: int) -> bytes:
    return orjson.dumps(
        {
            "type": "connected",
            "build_id": run_id,
            "run_id": run_id,
            "seq": since,
            "message": f"Connected to build {run_id}",
        }
    )


class BuildMessages:
    """One viewer's encoder: remembers the last progress, which every `status` carries."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.progress = 0

    def messages(self, item: StreamItem) -> list[bytes]:
        if item is None:
            return []
        if isinstance(item, Gap):
            count_gap(item.count)
            return [orjson.dumps(gap_message(self.run_id, item))]
        return [m for event in item.events for m in self._event(event)]

    def _event(self, event: ev.Event) -> list[bytes]:
        kind = event["type"]
        if kind == ev.LOG:
            message: dict[str, Any] = {
                "type": ev.LOG,
                "text": event["line"],
                "timestamp": event["ts"],
                "seq": event["seq"],
                "stream": event["stream"],
            }
            if event.get("partial"):
                message["partial"] = True
            return [orjson.dumps(message)]
        if kind == ev.STATUS:
            progress = event.get("progress")
            if isinstance(progress, int | float):
                self.progress = int(progress)
            return [orjson.dumps(_timestamped(event) | {"progress": self.progress})]
        if kind == ev.COMPLETE:
            return [self._final_status(event), orjson.dumps(_timestamped(event))]
        return [orjson.dumps(_timestamped(event))]

    def _final_status(self, complete: ev.Event) -> bytes:
        success = bool(complete.get("success"))
        if success:
            self.progress = 100
        status = RunStatus.SUCCESS.value if success else RunStatus.FAILED.value
        message: dict[str, Any] = {
            "type": ev.STATUS,
            "status": status,
            "progress": self.progress,
            "timestamp": complete.get("ts"),
            "seq": complete["seq"],
            "final": True,
        }
        run_status = complete.get("status")
        if isinstance(run_status, str) and run_status != status:
            message["run_status"] = run_status
        return orjson.dumps(message)


def _timestamped(event: ev.Event) -> dict[str, Any]:
    """The event with `timestamp` in place of `ts`."""
    out = {k: v for k, v in event.items() if k != "ts"}
    out["timestamp"] = event.get("ts")
    return out
