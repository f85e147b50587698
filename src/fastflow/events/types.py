"""The event vocabulary of a run. Every event is a JSON object with `seq`, `type` and `ts`.

- ``log``: ``stream`` (stdout | stderr | setup | system), ``line``; ``partial: true`` marks a
  fragment of an over-long line that continues in the next event.
- ``status``: ``status`` (a RunStatus), optional ``progress`` (0-100) and ``text``.
- ``metrics``: ``cpu_percent``, ``ram_mb``, limits, ``soft_limit_exceeded``.
- ``error``: ``error`` (a message for people).
- ``complete``: ``status``, ``success``, ``exit_code``, ``failure_kind``, ``artifacts``.
"""

from __future__ import annotations

from typing import Any, Final

Event = dict[str, Any]

LOG: Final = "log"
STATUS: Final = "status"
METRICS: Final = "metrics"
ERROR: Final = "error"
COMPLETE: Final = "complete"

EVENT_TYPES: Final = frozenset({LOG, STATUS, METRICS, ERROR, COMPLETE})
