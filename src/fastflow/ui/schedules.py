"""Schedules: every schedule with its trigger in words, its next five fire times, its last
run and its own run history; create and edit (the form is in `schedule_form`),
enable/disable, delete after a confirmation."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nicegui import ui

from fastflow.models import Role
from fastflow.records import Run, Schedule
from fastflow.ui import session
from fastflow.ui.actions import delete_button, perform
from fastflow.ui.format import when
from fastflow.ui.layout import frame, tid
from fastflow.ui.run_strip import run_strip
from fastflow.ui.schedule_form import in_words, open_form, trigger_text

REFRESH_SECONDS = 5.0
_OUTCOME_COLORS = {
    "started": "green-8",
    "queued": "blue-7",
    "skipped": "orange-9",
    "missed": "deep-orange-9",
    "error": "red-8",
}


@dataclass
class Item:
    """A schedule with what its card shows beside the row."""

    row: Schedule
    problem: str | None
    upcoming: list[datetime]
    history: list[Run]

    def signature(self) -> object:
        return (
            self.row.model_dump(),
            self.problem,
            self.upcoming,
            [(r.id, r.status) for r in self.history],
        )


def _load_item(row: Schedule) -> Item:
    scheduler = session.services().scheduler
    return Item(
        row, scheduler.problem(row), scheduler.upcoming(row, 5), scheduler.history(row.id, 10)
    )


def _history(runs: list[Run]) -> None:
    """The schedule's own runs as coloured squares, newest first; each links to its run."""
    with (ui.row().classes("items-center gap-2 text-sm").props(tid("schedule-history"))).mark(
        "schedule-history"
    ):
        ui.label("Its runs").classes("text-grey-8")
        if not runs:
            ui.label("none yet").classes("text-grey-7")
        run_strip(runs, "schedule-runs")


def _schedule_card(item: Item, operator: bool, reload: Any) -> None:
    row, problem = item.row, item.problem
    with ui.card().classes("ff-card w-full").props(tid(f"schedule-{row.id}")):
        with ui.row().classes("w-full items-center gap-2"):
            ui.link(row.pipeline_name, f"/pipelines/{row.pipeline_name}").classes(
                "text-lg font-bold text-primary"
            )
            ui.label(trigger_text(row)).classes("ff-mono text-sm bg-grey-2 px-2 rounded")
            ui.label(row.timezone).classes("text-sm text-grey-8")
            said = in_words(row.trigger_type, row.trigger_value)
            if said:
                ui.label(said).classes("text-sm text-grey-9").props(tid("schedule-in-words"))
            ui.space()
            switch = ui.switch("enabled", value=row.enabled).props(tid("schedule-enabled"))
            switch.set_enabled(operator)

            async def toggle() -> None:
                want = bool(switch.value)
                done = await perform(
                    Role.OPERATOR,
                    lambda _: session.services().scheduler.set_enabled(row.id, want),
                    f"Schedule {'enabled' if want else 'disabled'}",
                )
                if done is None:
                    switch.set_value(not want)
                await reload()

            switch.on("update:model-value", toggle)
        if problem:
            ui.label(problem).classes("text-negative text-sm break-all")
        with ui.row().classes("gap-x-6 gap-y-1 text-sm items-center"):
            ui.label(f"Next run {when(row.next_run_at) if row.enabled else '— (disabled)'}")
            with ui.row().classes("items-center gap-1"):
                ui.label("Last run")
                if row.last_run_id:
                    ui.link(when(row.last_run_at), f"/runs/{row.last_run_id}")
                else:
                    ui.label(when(row.last_run_at))
                if row.last_outcome:
                    color = _OUTCOME_COLORS.get(row.last_outcome, "grey-7")
                    ui.badge(row.last_outcome, color=color).classes("text-white")
            if row.skipped_count:
                ui.label(f"skipped {row.skipped_count} times").classes("text-orange-10")
            if row.overlap_policy:
                ui.label(f"overlap: {row.overlap_policy}").classes("text-grey-8")
            if row.parameters:
                ui.label(json.dumps(row.parameters)).classes("ff-mono text-grey-8 break-all")
        if row.last_message:
            ui.label(row.last_message).classes("text-xs text-grey-8 break-all")
        if item.upcoming:
            with (
                ui.row()
                .classes("gap-x-3 gap-y-0 text-xs text-grey-8 items-center")
                .props(tid("schedule-upcoming"))
            ):
                ui.label("Next five").classes("uppercase")
                for fire in item.upcoming:
                    ui.label(fire.strftime("%a %Y-%m-%d %H:%M:%S %Z")).classes("ff-mono")
        _history(item.history)
        with ui.row().classes("gap-2"):
            edit = ui.button(
                "Edit",
                icon="edit",
                on_click=lambda: open_form(row, [row.pipeline_name], reload),
            ).props("flat dense " + tid("schedule-edit"))
            edit.set_enabled(operator)
            edit.mark("schedule-edit")

            delete_button(
                Role.OPERATOR,
                lambda _: session.services().scheduler.delete(row.id),
                f"Delete this schedule of {row.pipeline_name}?",
                f"{trigger_text(row)} ({row.timezone}). Runs it started are kept.",
                f"Schedule for {row.pipeline_name} deleted",
                reload,
                "schedule-delete",
                operator,
            )


def register() -> None:
    @ui.page("/schedules")
    async def schedules_page(pipeline: str | None = None) -> None:
        svc = session.services()

        async def load() -> list[Item]:
            def rows() -> list[Item]:
                return [_load_item(r) for r in svc.scheduler.all(pipeline)]

            return await asyncio.to_thread(rows)

        crumbs = [("Schedules", "/schedules" if pipeline else None)]
        if pipeline:
            crumbs.append((pipeline[:40], None))
        with frame("Schedules", crumbs) as user:
            operator = session.can_operate(user)
            names = list(await asyncio.to_thread(svc.pipeline_service.names))
            shown: list[Any] = [None]

            @ui.refreshable
            def body(items: list[Item]) -> None:
                if not items:
                    ui.label("No schedules yet.").classes("text-grey-7").props(
                        tid("schedules-empty")
                    )
                for item in items:
                    _schedule_card(item, operator, reload)

            async def reload() -> None:
                items = await load()
                signature = [i.signature() for i in items]
                # Rebuilt only on change: a switch being flipped is not reset under the mouse.
                if signature != shown[0]:
                    shown[0] = signature
                    body.refresh(items)

            with ui.row().classes("items-center w-full"):
                ui.label("Schedules").classes("text-xl font-bold")
                if pipeline:
                    ui.label(f"of {pipeline}").classes("text-grey-8")
                ui.space()
                new = ui.button(
                    "New schedule",
                    icon="add",
                    on_click=lambda: open_form(None, names, reload),
                ).props(tid("schedule-new"))
                new.set_enabled(operator and bool(names))
                new.mark("schedule-new")
            items = await load()
            shown[0] = [i.signature() for i in items]
            with ui.column().classes("w-full gap-3").props(tid("schedules")):
                body(items)
            ui.timer(REFRESH_SECONDS, reload)
