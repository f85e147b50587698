"""The dispatcher contract."""

from __future__ import annotations

from typing import Protocol


class Dispatcher(Protocol):
    """Starts PENDING runs as capacity allows, and stops them on request."""

    async def start(self) -> None:
        """Begin dispatching (PENDING runs from before a restart included)."""
        ...

    async def stop(self) -> None: ...

    def submit(self, run_id: str) -> None:
        """A run became PENDING; safe to call from any thread."""
        ...

    def cancel(self, run_id: str) -> bool:
        """Ask a running run to stop; False when no worker of this dispatcher runs it."""
        ...

    @property
    def running(self) -> int:
        """Runs executing now."""
        ...
