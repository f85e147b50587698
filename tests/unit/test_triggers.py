"""Cron expressions mean what they mean in cron, not APScheduler's weekday numbering."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fastflow.errors import InvalidInputError
from fastflow.models import TriggerType
from fastflow.scheduler.triggers import build_trigger, cron_weekdays


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("1", "mon"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon-fri"),
        ("0-2", "sun,mon-tue"),
        ("*/2", "*/2"),
        ("mon,3", "mon,wed"),
    ],
)
def test_weekday_numbers_follow_cron(field: str, expected: str) -> None:
    assert cron_weekdays(field) == expected


def test_monday_is_monday() -> None:
    trigger = build_trigger(TriggerType.CRON, "30 4 * * 1", "UTC")
    nxt = trigger.get_next_fire_time(None, datetime(2026, 1, 1, tzinfo=UTC))  # a Thursday
    assert nxt.weekday() == 0 and (nxt.hour, nxt.minute) == (4, 30)


@pytest.mark.parametrize("value", ["", "* * *", "0 25 * * *", "0 0 * * 9"])
def test_bad_cron_names_the_field(value: str) -> None:
    with pytest.raises(InvalidInputError, match="trigger_value"):
        build_trigger(TriggerType.CRON, value, "UTC")
