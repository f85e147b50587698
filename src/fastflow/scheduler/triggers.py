"""Schedule triggers: validate cron expressions, intervals and time zones into APScheduler ones."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from fastflow.errors import InvalidInputError
from fastflow.models import TriggerType

MIN_INTERVAL = 1.0
MAX_INTERVAL = 366 * 86400.0


def zone(name: str) -> ZoneInfo:
    """The time zone called `name`, or a 422 naming the `timezone` field."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"timezone: {name!r} is not a known time zone; use an IANA name like "
            "'UTC' or 'Europe/Berlin'"
        ) from None


def interval_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise InvalidInputError(
            f"trigger_value: {value!r} is not a valid interval; give seconds between "
            f"{MIN_INTERVAL:g} and {MAX_INTERVAL:g}"
        )
    return seconds


def build_trigger(
    trigger_type: TriggerType, value: str, timezone: str, anchor: datetime | None = None
) -> BaseTrigger:
    """An APScheduler trigger; invalid input is an InvalidInputError naming the field.

    Interval ticks are anchored at `anchor` (the schedule's last change), so a restart keeps
    the cadence instead of starting a new one from the moment the server came up.
    """
    tz = zone(timezone)
    if trigger_type is TriggerType.CRON:
        try:
            return CronTrigger.from_crontab(value.strip(), timezone=tz)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"trigger_value: {value!r} is not a valid cron expression "
                f"('minute hour day month weekday', e.g. '*/5 * * * *'): {exc}"
            ) from None
    seconds = interval_seconds(value)
    return IntervalTrigger(seconds=seconds, start_date=anchor, timezone=tz)
