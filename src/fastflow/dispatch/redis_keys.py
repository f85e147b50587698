"""The Redis key layout shared by the server and `fastflow worker` (one prefix per install)."""

from __future__ import annotations

from dataclasses import dataclass

CLAIM_TTL = 7 * 24 * 3600  # a claim outlives any redelivery of the run's task message
CANCEL_TTL = 24 * 3600


@dataclass(frozen=True)
class RedisKeys:
    """Names of every key fastflow uses in Redis, under `prefix`."""

    prefix: str = "fastflow"

    def events(self, run_id: str) -> str:
        """The run's event stream: the worker XADDs, the server reads and trims."""
        return f"{self.prefix}:run:{run_id}:events"

    def claim(self, run_id: str) -> str:
        """Which worker executes the run; set once (SET NX), so a run never executes twice."""
        return f"{self.prefix}:run:{run_id}:claim"

    def secrets(self, run_id: str) -> str:
        """The run's secrets sealed for its claim holder (a hash; see `sealed_secrets`)."""
        return f"{self.prefix}:run:{run_id}:secrets"

    def cancel(self, run_id: str) -> str:
        """Present when the run should stop: the worker polls it (with the reason as value)."""
        return f"{self.prefix}:run:{run_id}:cancel"

    def queued(self, run_id: str) -> str:
        """Set when the run's task was sent; lost together with the broker's data."""
        return f"{self.prefix}:run:{run_id}:queued"

    @property
    def ingest_wake(self) -> str:
        """A stream the server's ingest also blocks on: an entry wakes it (a run was
        submitted) without waiting for its read to time out."""
        return f"{self.prefix}:ingest:wake"

    def worker(self, worker_id: str) -> str:
        """A worker's heartbeat record (JSON), expiring when the worker stops beating."""
        return f"{self.prefix}:worker:{worker_id}"

    @property
    def worker_pattern(self) -> str:
        return f"{self.prefix}:worker:*"
