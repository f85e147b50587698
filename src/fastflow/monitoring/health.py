"""Health of background parts (scheduler, git sync, cleanup), as they last reported it."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class ComponentHealth:
    ok: bool
    reported_at: float
    last_success_at: float | None
    detail: str | None


class HealthRegistry:
    """Parts call `report()` after each round; `/metrics` turns it into gauges."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._components: dict[str, ComponentHealth] = {}

    def report(self, component: str, ok: bool, detail: str | None = None) -> None:
        now = time.time()
        with self._lock:
            previous = self._components.get(component)
            last_ok = now if ok else (previous.last_success_at if previous else None)
            self._components[component] = ComponentHealth(ok, now, last_ok, detail)

    def snapshot(self) -> dict[str, ComponentHealth]:
        with self._lock:
            return dict(self._components)
