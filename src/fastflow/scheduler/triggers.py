"""Schedule triggers: validate cron expressions, intervals and time zones into APScheduler ones."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
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


_DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _day(token: str) -> str:
    return _DAYS[int(token)] if token.isdigit() and int(token) < len(_DAYS) else token


def cron_weekdays(field: str) -> str:
    """Standard cron weekday numbers (0/7 = Sunday, 1 = Monday) as names.

    APScheduler 3 counts 0 as Monday, so a plain `1` would fire on Tuesdays; names mean
    the same to both.
    """
    parts = []
    for part in field.split(","):
        base, slash, step = part.partition("/")
        lo, dash, hi = base.partition("-")
        if dash and lo == "0":
            # 0-N wraps in APScheduler's order (sun is last there): Sunday plus mon-N.
            parts.append("sun")
            lo = "1"
        parts.append(_day(lo) + (dash + _day(hi) if dash else "") + slash + step)
    return ",".join(parts)


def build_trigger(
    trigger_type: TriggerType, value: str, timezone: str, anchor: datetime | None = None
) -> BaseTrigger:
    """An APScheduler trigger; invalid input is an InvalidInputError naming the field.

    Interval ticks are anchored at `anchor` (the schedule's last change), so a restart keeps
    the cadence instead of starting a new one from the moment the server came up.
    """
    tz = zone(timezone)
    if trigger_type is TriggerType.CRON:
        fields = value.split()
        if len(fields) == 5:
            fields[4] = cron_weekdays(fields[4])
        try:
            return CronTrigger.from_crontab(" ".join(fields), timezone=tz)
        except (ValueError, TypeError) as exc:
            raise InvalidInputError(
                f"trigger_value: {value!r} is not a valid cron expression "
                f"('minute hour day month weekday', e.g. '*/5 * * * *'): {exc}"
            ) from None
    seconds = interval_seconds(value)
    return IntervalTrigger(seconds=seconds, start_date=anchor, timezone=tz)


def next_fire_times(
    trigger_type: TriggerType,
    value: str,
    timezone: str,
    anchor: datetime | None = None,
    count: int = 5,
    now: datetime | None = None,
) -> list[datetime]:
    """The next `count` times the trigger fires after `now` (as the scheduler computes them)."""
    trigger = build_trigger(trigger_type, value, timezone, anchor)
    now = now or datetime.now(UTC)
    times: list[datetime] = []
    previous: datetime | None = None
    while len(times) < count:
        fire = trigger.get_next_fire_time(previous, now)
        if fire is None:
            break
        times.append(fire)
        previous, now = fire, fire + timedelta(microseconds=1)
    return times
