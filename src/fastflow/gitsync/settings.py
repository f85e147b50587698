"""Git sync settings an admin can change at run time: branch, auto-sync interval, pre-heat.

The environment (GIT_BRANCH, AUTO_SYNC_INTERVAL, UV_PRE_HEAT) gives the defaults; values
stored in the database take precedence. `apply` puts the effective values into the running
sync service and (re)starts or stops the auto-sync loop.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Any

from fastflow.errors import InvalidInputError
from fastflow.gitsync.loop import AutoSyncLoop
from fastflow.gitsync.preheat import Preheater
from fastflow.gitsync.service import SyncService
from fastflow.monitoring.health import HealthRegistry
from fastflow.records import SyncSettingsRow
from fastflow.storage.sync_settings_store import SyncSettingsStore

MIN_INTERVAL = 10.0
MAX_INTERVAL = 7 * 24 * 3600.0
FIELDS = ("branch", "auto_sync_interval", "pre_heat")


@dataclass(frozen=True)
class SyncDefaults:
    """The environment's values."""

    branch: str
    auto_sync_interval: float | None  # None: off
    pre_heat: bool


def _interval(value: Any) -> float | None:
    """None (default) stays None; 0 means off; else seconds within bounds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInputError("auto_sync_interval: give a number of seconds (0 turns it off)")
    if value != 0 and not MIN_INTERVAL <= value <= MAX_INTERVAL:
        raise InvalidInputError(
            f"auto_sync_interval: give 0 (off) or between {MIN_INTERVAL:g} and "
            f"{MAX_INTERVAL:g} seconds, not {value:g}"
        )
    return float(value)


class SyncSettings:
    def __init__(
        self,
        store: SyncSettingsStore,
        sync: SyncService,
        defaults: SyncDefaults,
        preheater: Preheater | None,
        health: HealthRegistry | None = None,
    ) -> None:
        self.store = store
        self.sync = sync
        self.defaults = defaults
        self.preheater = preheater
        self.health = health
        self.loop: AutoSyncLoop | None = None
        self._started = False
        self._lock = asyncio.Lock()

    def effective(self, row: SyncSettingsRow | None = None) -> SyncDefaults:
        row = row if row is not None else self.store.get()
        interval = self.defaults.auto_sync_interval
        if row.auto_sync_interval is not None:
            interval = row.auto_sync_interval or None
        return SyncDefaults(
            branch=row.branch if row.branch is not None else self.defaults.branch,
            auto_sync_interval=interval,
            pre_heat=row.pre_heat if row.pre_heat is not None else self.defaults.pre_heat,
        )

    def view(self) -> dict[str, Any]:
        """Each setting: the value in force, the environment's default, what was stored."""
        row = self.store.get()
        now = self.effective(row)
        return {
            name: {
                "value": getattr(now, name),
                "default": getattr(self.defaults, name),
                "stored": getattr(row, name),
            }
            for name in FIELDS
        } | {
            "updated_by": row.updated_by,
            "updated_at": row.updated_at.isoformat() if row.updated_at else None,
        }

    async def update(self, changes: dict[str, Any], by: str | None) -> dict[str, Any]:
        """Store the given settings (None: back to the environment's) and apply them."""
        unknown = set(changes) - set(FIELDS)
        if unknown:
            raise InvalidInputError(f"unknown setting(s): {', '.join(sorted(unknown))}")
        clean: dict[str, Any] = {}
        if "branch" in changes:
            branch = changes["branch"]
            if branch is not None:
                if not isinstance(branch, str) or not branch.strip() or len(branch) > 200:
                    raise InvalidInputError("branch: give a branch name (up to 200 characters)")
                branch = branch.strip()
                if not await self.sync.repo.valid_branch(branch):
                    raise InvalidInputError(f"branch: {branch!r} is not a valid branch name")
            clean["branch"] = branch
        if "auto_sync_interval" in changes:
            clean["auto_sync_interval"] = _interval(changes["auto_sync_interval"])
        if "pre_heat" in changes:
            value = changes["pre_heat"]
            if value is not None and not isinstance(value, bool):
                raise InvalidInputError("pre_heat: give true or false")
            clean["pre_heat"] = value
        await asyncio.to_thread(self.store.put, clean, by)
        if self._started:
            await self.apply()
        else:
            self._configure(await asyncio.to_thread(self.effective))
        return await asyncio.to_thread(self.view)

    def _configure(self, now: SyncDefaults) -> None:
        self.sync.default_branch = now.branch
        self.sync.preheater = self.preheater if now.pre_heat else None

    async def apply(self, at_start: bool = False) -> None:
        """Put the effective settings in force; the auto-sync loop runs on its interval
        (at server start, its first round at once; after a change, after one interval)."""
        async with self._lock:
            self._started = True
            now = await asyncio.to_thread(self.effective)
            self._configure(now)
            interval = now.auto_sync_interval
            if self.loop is not None and self.loop.interval == interval:
                return
            if self.loop is not None:
                await self.loop.stop()
                self.loop = None
            if interval:
                self.loop = AutoSyncLoop(self.sync, interval, self.health)
                # Saving a setting is no sync: then the first round comes after one interval.
                self.loop.first_delay = 0.0 if at_start else interval
                await self.loop.start()

    async def stop(self) -> None:
        async with self._lock:
            self._started = False
            if self.loop is not None:
                await self.loop.stop()
                self.loop = None
