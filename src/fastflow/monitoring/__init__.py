"""Monitoring: Prometheus `/metrics`, counters and health gauges other parts feed, JSON logs.

Hooks for other modules (cheap, no handle on the server needed):

- ``fastflow.monitoring.count_gap(lines)`` — the live-stream code calls it per `gap` event.
- ``services.monitoring.health.report("scheduler", ok=True)`` — background parts report health.
"""

from __future__ import annotations

from fastflow.monitoring.counters import count_dropped_log_events, count_gap
from fastflow.monitoring.health import HealthRegistry

__all__ = ["HealthRegistry", "count_dropped_log_events", "count_gap"]
