"""The live fan-out contract: who is told, right now, about events appended to a run's log.

The log file holds the past; a fan-out only carries what is appended while a viewer listens.
A viewer subscribes first, then reads the file up to where the live events begin, so nothing
falls between the two (see `fastflow.events.stream`).
"""

from __future__ import annotations

from typing import Protocol

from fastflow.events.types import Event


class Subscription(Protocol):
    """One viewer's live feed for one run."""

    run_id: str

    async def get(self, timeout: float | None = None) -> list[Event] | None:
        """The next batch of live events; [] on timeout; None when the feed has ended."""
        ...

    @property
    def overflowed(self) -> bool:
        """True when the viewer fell behind and events were left out of its buffer."""
        ...

    def close(self) -> None: ...


class EventFanout(Protocol):
    """Delivers appended events to every live subscriber of a run."""

    def publish(self, run_id: str, events: list[Event]) -> None:
        """Hand a batch to every subscriber; must never block the caller."""
        ...

    def subscribe(self, run_id: str) -> Subscription: ...

    def finish(self, run_id: str) -> None:
        """The run is complete: end every subscription after what was published."""
        ...

    def subscriber_counts(self) -> dict[str, int]:
        """Runs with live viewers and how many each has."""
        ...
