"""Schedules: every schedule with its next and last run, create and edit
(cron or interval), enable/disable, delete after a confirmation.

Input goes through the API's own request model (`ScheduleIn`/`ScheduleUpdate`) and then the
same `SchedulerService` calls as `/api/schedules`, so the console accepts and refuses exactly
what the API does, with the same messages.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from zoneinfo import available_timezones

import orjson
from nicegui import ui
from pydantic import BaseModel, ValidationError

from fastflow.errors import InvalidInputError, describe_validation
from fastflow.models import Role
from fastflow.records import Schedule
from fastflow.scheduler.requests import ScheduleIn, ScheduleUpdate
from fastflow.scheduler.service import ScheduleSpec
from fastflow.ui import session
from fastflow.ui.actions import delete_button, perform
from fastflow.ui.format import when
from fastflow.ui.layout import FormError, frame, tid

REFRESH_SECONDS = 5.0
_OUTCOME_COLORS = {
    "started": "green-8",
    "queued": "blue-7",
    "skipped": "orange-9",
    "missed": "deep-orange-9",
    "error": "red-8",
}
_OVERLAP = {"": "as the pipeline says", "skip": "skip", "queue": "queue"}


def trigger_text(row: Schedule) -> str:
    """'cron */15 * * * 1-5' or 'every 90 s'."""
    if row.trigger_type == "INTERVAL":
        return f"every {float(row.trigger_value):g} s"
    return f"cron {row.trigger_value}"


def _validated(model: type[BaseModel], data: dict[str, Any]) -> BaseModel:
    """The API's request model checks the form: the same 422 messages, shown in the page."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInputError(describe_validation(exc.errors())) from None


def parse_parameters(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)  # too deep nesting is an error here, not a RecursionError
    except ValueError as exc:
        raise InvalidInputError(f"parameters: not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise InvalidInputError('parameters: give a JSON object like {"NAME": "value"}')
    return value


def _save(existing: Schedule | None, form: dict[str, Any]) -> Schedule:
    data = {**form, "parameters": parse_parameters(form["parameters"])}
    scheduler = session.services().scheduler
    if existing is None:
        body = _validated(ScheduleIn, data)
        return scheduler.create(ScheduleSpec(**body.model_dump()))
    update = _validated(ScheduleUpdate, data)
    # As PUT /api/schedules/{id}: null means "unchanged", but for overlap_policy "inherit".
    changes = {
        k: v
        for k, v in update.model_dump(exclude_unset=True).items()
        if v is not None or k == "overlap_policy"
    }
    return scheduler.update(existing.id, changes)


def _open_form(existing: Schedule | None, pipelines: list[str], after: Any) -> None:
    """The create/edit dialog; errors from validation are shown under the fields."""
    title = "New schedule" if existing is None else f"Edit schedule {existing.id[:8]}"
    with (
        ui.context.client.layout,
        ui.dialog() as dialog,
        ui.card().classes("w-[32rem] max-w-[95vw]"),
    ):
        ui.label(title).classes("text-lg font-bold")
        pipeline = (
            ui.select(
                pipelines,
                label="Pipeline",
                value=existing.pipeline_name if existing else (pipelines[0] if pipelines else None),
                with_input=True,
            )
            .classes("w-full")
            .props("outlined dense " + tid("schedule-pipeline"))
        )
        kind = ui.toggle(
            {"CRON": "Cron", "INTERVAL": "Interval"},
            value=existing.trigger_type if existing else "CRON",
        ).props(tid("schedule-kind"))
        value = (
            ui.input(
                "Cron expression or seconds",
                value=existing.trigger_value if existing else "*/15 * * * *",
            )
            .classes("w-full")
            .props("outlined dense " + tid("schedule-value"))
        )
        value.mark("schedule-value")
        hint = ui.label().classes("text-xs text-grey-7 -mt-2")

        def show_hint() -> None:
            hint.set_text(
                "five fields: minute hour day month weekday, e.g. 0 6 * * 1-5"
                if kind.value == "CRON"
                else "seconds between runs, e.g. 3600"
            )

        kind.on_value_change(show_hint)
        show_hint()
        zone = (
            ui.select(
                sorted(available_timezones() | {"UTC"}),
                label="Time zone",
                value=existing.timezone if existing else "UTC",
                with_input=True,
            )
            .classes("w-full")
            .props("outlined dense " + tid("schedule-timezone"))
        )
        overlap = (
            ui.select(
                _OVERLAP,
                label="When a run is still going",
                value=(existing.overlap_policy or "") if existing else "",
            )
            .classes("w-full")
            .props("outlined dense")
        )
        params = (
            ui.textarea(
                "Parameters (JSON object, optional)",
                value=json.dumps(existing.parameters) if existing and existing.parameters else "",
            )
            .classes("w-full")
            .props("outlined dense autogrow " + tid("schedule-parameters"))
        )
        enabled = ui.checkbox("enabled", value=existing.enabled if existing else True)
        error = FormError("schedule-error")
        failed = error.show

        async def save() -> None:
            button.props("loading")
            error.hide()
            form = {
                "pipeline_name": pipeline.value or "",
                "trigger_type": kind.value,
                "trigger_value": (value.value or "").strip(),
                "timezone": zone.value or "",
                "overlap_policy": overlap.value or None,
                "parameters": params.value or "",
                "enabled": bool(enabled.value),
            }
            done = await perform(
                Role.OPERATOR,
                lambda _: _save(existing, form),
                lambda row: (
                    f"Schedule for {row.pipeline_name} saved; next run "
                    f"{when(row.next_run_at) if row.enabled else '— (disabled)'}"
                ),
                on_error=failed,
            )
            button.props(remove="loading")
            if done is not None:
                dialog.close()
                await after()
                # Not only on the browser's "hide": a closed form must not linger (and its
                # Save button must not be found again by NiceGUI's User simulation).
                dialog.delete()

        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            button = ui.button("Save", icon="save", on_click=save).props(tid("schedule-save"))
            button.mark("schedule-save")
    dialog.on("hide", dialog.delete)
    dialog.open()


def _schedule_card(row: Schedule, problem: str | None, operator: bool, reload: Any) -> None:
    with ui.card().classes("ff-card w-full").props(tid(f"schedule-{row.id}")):
        with ui.row().classes("w-full items-center gap-2"):
            ui.link(row.pipeline_name, f"/pipelines/{row.pipeline_name}").classes(
                "text-lg font-bold text-primary"
            )
            ui.label(trigger_text(row)).classes("ff-mono text-sm bg-grey-2 px-2 rounded")
            ui.label(row.timezone).classes("text-sm text-grey-8")
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
        with ui.row().classes("gap-2"):
            edit = ui.button(
                "Edit",
                icon="edit",
                on_click=lambda: _open_form(row, [row.pipeline_name], reload),
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

        async def load() -> list[tuple[Schedule, str | None]]:
            def rows() -> list[tuple[Schedule, str | None]]:
                return [(r, svc.scheduler.problem(r)) for r in svc.scheduler.all(pipeline)]

            return await asyncio.to_thread(rows)

        crumbs = [("Schedules", "/schedules" if pipeline else None)]
        if pipeline:
            crumbs.append((pipeline[:40], None))
        with frame("Schedules", crumbs) as user:
            operator = session.can_operate(user)
            names = list(await asyncio.to_thread(svc.pipeline_service.names))
            shown: list[Any] = [None]

            @ui.refreshable
            def body(items: list[tuple[Schedule, str | None]]) -> None:
                if not items:
                    ui.label("No schedules yet.").classes("text-grey-7").props(
                        tid("schedules-empty")
                    )
                for row, problem in items:
                    _schedule_card(row, problem, operator, reload)

            async def reload() -> None:
                items = await load()
                signature = [(r.model_dump(), p) for r, p in items]
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
                    on_click=lambda: _open_form(None, names, reload),
                ).props(tid("schedule-new"))
                new.set_enabled(operator and bool(names))
                new.mark("schedule-new")
            items = await load()
            shown[0] = [(r.model_dump(), p) for r, p in items]
            with ui.column().classes("w-full gap-3").props(tid("schedules")):
                body(items)
            ui.timer(REFRESH_SECONDS, reload)
