"""The dashboard's backup tile: the newest backup (when, how old, how large), the schedule,
and the last failure if the last attempt failed."""

from __future__ import annotations

from datetime import UTC, datetime

from nicegui import ui

from fastflow.backup.status import BackupState, human_size
from fastflow.ui import session
from fastflow.ui.format import when
from fastflow.ui.layout import tid

REFRESH_SECONDS = 30.0


def age_text(seconds: float) -> str:
    """'40 s', '12 min', '3 h 05 min', '2 d 4 h'."""
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def last_line(state: BackupState, now: float | None = None) -> str:
    if state.last_at is None or state.last_size is None:
        return f"No backup yet in {state.directory}"
    at = datetime.fromtimestamp(state.last_at, UTC)
    keys = {True: ", keys sealed", False: ", without keys", None: ""}[state.last_keys]
    age = age_text(state.age(now) or 0)
    return f"Last {when(at)} UTC ({age} ago), {human_size(state.last_size)}{keys}"


def schedule_line(state: BackupState) -> str:
    if state.interval is None:
        return "Not scheduled: set FASTFLOW_BACKUP_INTERVAL, or run `fastflow backup`"
    return f"Every {age_text(state.interval)}, keeping the newest {state.keep} in {state.directory}"


def overdue(state: BackupState, now: float | None = None) -> bool:
    """Scheduled, and the newest backup is more than two intervals old."""
    age = state.age(now)
    return state.interval is not None and age is not None and age > 2 * state.interval


def backup_card() -> None:
    with ui.card().classes("ff-card w-full").props(tid("backup-card")):
        ui.label("Backups").classes("text-lg font-bold")

        @ui.refreshable
        def body(state: BackupState) -> None:
            ui.label(last_line(state)).classes(
                "text-sm " + ("text-orange-10" if overdue(state) else "text-grey-9")
            ).props(tid("backup-last"))
            ui.label(schedule_line(state)).classes("text-sm text-grey-8 break-all").props(
                tid("backup-schedule")
            )
            if state.error and state.error_at is not None:
                at = when(datetime.fromtimestamp(state.error_at, UTC))
                ui.label(f"Last attempt failed at {at} UTC: {state.error}").classes(
                    "text-sm text-negative break-all"
                ).props(tid("backup-error"))

        status = session.services().backup_status
        body(status.snapshot())
        ui.timer(REFRESH_SECONDS, lambda: body.refresh(status.snapshot()))
