"""Display helpers shared by the pages: times, durations, status colours, sizes."""

from __future__ import annotations

from datetime import UTC, datetime

from fastflow.models import RunStatus

STATUS_COLORS: dict[str, str] = {
    RunStatus.PENDING: "grey-7",
    RunStatus.RUNNING: "blue-7",
    RunStatus.SUCCESS: "green-8",
    RunStatus.FAILED: "red-8",
    RunStatus.CANCELLED: "orange-9",
    RunStatus.TIMED_OUT: "deep-orange-9",
}

STATUS_ICONS: dict[str, str] = {
    RunStatus.PENDING: "schedule",
    RunStatus.RUNNING: "autorenew",
    RunStatus.SUCCESS: "check_circle",
    RunStatus.FAILED: "error",
    RunStatus.CANCELLED: "cancel",
    RunStatus.TIMED_OUT: "timer_off",
}


def when(value: datetime | None) -> str:
    """A timestamp in UTC, to the second; '—' when missing."""
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def duration(start: datetime | None, end: datetime | None) -> str:
    """'1h 02m', '3m 05s', '4.2s'; running runs count up to now."""
    if start is None:
        return "—"
    seconds = ((end or datetime.now(UTC)) - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def rate(successful: int, total: int) -> str:
    return f"{successful / total:.0%}" if total else "—"


def short_id(run_id: str) -> str:
    return run_id[:8]
