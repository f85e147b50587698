"""The dispatcher contract."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class Dispatcher(Protocol):
    """Starts PENDING runs as capacity allows, and stops them on request."""

    async def start(self) -> None:
        """Begin dispatching (PENDING runs from before a restart included)."""
        ...

    async def stop(self) -> None: ...

    def submit(self, run_id: str) -> None:
        """A run became PENDING; safe to call from any thread."""
        ...

    def cancel(self, run_id: str, reason: str = "cancel requested") -> bool:
        """Ask a running run to stop (`reason` goes into its error message); False when no
        worker of this dispatcher runs it."""
        ...

    @property
    def running(self) -> int:
        """Runs executing now."""
        ...


@runtime_checkable
class RemoteWorkers(Protocol):
    """A dispatcher that hands runs to workers in other processes (e.g. Celery)."""

    def list_workers(self) -> list[dict[str, Any]]:
        """Live workers' heartbeat records; raises redis errors when Redis is unreachable."""
        ...

    @property
    def redis_error(self) -> str | None:
        """Why the broker cannot be used right now, or None."""
        ...

    def claim_owner(self, run_id: str) -> str | None:
        """The id of the worker holding the run's claim, or None; raises redis errors."""
        ...
