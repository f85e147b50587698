"""RetentionPolicy: which finished runs to remove, from LOG_RETENTION_RUNS/LOG_RETENTION_DAYS."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from fastflow.records import utcnow
from fastflow.settings import Settings
from fastflow.storage.retention_store import RetentionStore


@dataclass(frozen=True)
class RetentionPolicy:
    keep_runs: int | None = None  # per pipeline, newest first
    keep_days: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(keep_runs=settings.log_retention_runs, keep_days=settings.log_retention_days)

    @property
    def active(self) -> bool:
        return self.keep_runs is not None or self.keep_days is not None

    def describe(self) -> str:
        parts = []
        if self.keep_runs is not None:
            parts.append(f"keep the newest {self.keep_runs} runs per pipeline")
        if self.keep_days is not None:
            parts.append(f"keep runs for {self.keep_days:g} days")
        return "; ".join(parts) or "keep everything (no LOG_RETENTION_* set)"

    def select(
        self, store: RetentionStore, limit: int | None = None, now: datetime | None = None
    ) -> list[str]:
        """Ids of finished runs the policy removes (at most `limit`, if given)."""
        chosen: dict[str, None] = {}
        if self.keep_days is not None:
            cutoff = (now or utcnow()) - timedelta(days=self.keep_days)
            chosen.update(dict.fromkeys(store.older_than(cutoff, limit)))
        if self.keep_runs is not None and (limit is None or len(chosen) < limit):
            chosen.update(dict.fromkeys(store.beyond_newest(self.keep_runs, limit)))
        ids = list(chosen)
        return ids if limit is None else ids[:limit]
