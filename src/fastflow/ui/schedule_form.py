"""The schedule form (create and edit): pipeline, cron or interval — the expression read
back in words as it is typed — time zone, overlap, and the pipeline's declared parameters as
fields (a JSON object for a pipeline that declares none).

Input goes through the API's own request model (`ScheduleIn`/`ScheduleUpdate`) and then the
same `SchedulerService` calls as `/api/schedules`, so the console accepts and refuses exactly
what the API does, with the same messages.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from zoneinfo import available_timezones

import orjson
from cron_descriptor import get_description
from nicegui import ui
from pydantic import BaseModel, ValidationError

from fastflow.errors import FastflowError, InvalidInputError, describe_validation
from fastflow.models import Role
from fastflow.pipelines.config import ParameterSpec
from fastflow.records import Schedule
from fastflow.scheduler.requests import ScheduleIn, ScheduleUpdate
from fastflow.scheduler.service import ScheduleSpec
from fastflow.ui import session
from fastflow.ui.actions import param_field, perform
from fastflow.ui.format import when
from fastflow.ui.layout import FormError, tid

_OVERLAP = {"": "as the pipeline says", "skip": "skip", "queue": "queue"}


def in_words(trigger_type: str, value: str) -> str:
    """'At 06:00 AM, Monday through Friday' or 'Every 1 h 30 min'; '' if it does not parse."""
    if trigger_type == "INTERVAL":
        try:
            seconds = float(value)
        except ValueError:
            return ""
        if seconds <= 0:
            return ""
        parts, rest = [], int(seconds)
        for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
            if rest >= size:
                parts.append(f"{rest // size} {unit}")
                rest %= size
        if rest or not parts:
            parts.append(f"{rest if parts else seconds:g} s")
        return "Every " + " ".join(parts)
    if len(value.split()) != 5:
        return ""
    try:
        return str(get_description(value))
    except Exception:  # the library raises its own errors for every malformed field
        return ""


def _declared(pipeline: str | None) -> dict[str, ParameterSpec]:
    if not pipeline:
        return {}
    try:
        definition = session.services().catalog.get(pipeline)
    except FastflowError:
        return {}
    return dict(definition.config.parameters) if definition.valid else {}


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
    data = {**form, "parameters": form["parameters"]()}
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


def open_form(existing: Schedule | None, pipelines: list[str], after: Any) -> None:
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
        pipeline.mark("schedule-pipeline")
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
        words = ui.label().classes("text-sm text-primary -mt-1").props(tid("schedule-words"))
        words.mark("schedule-words")

        def show_hint() -> None:
            hint.set_text(
                "five fields: minute hour day month weekday, e.g. 0 6 * * 1-5"
                if kind.value == "CRON"
                else "seconds between runs, e.g. 3600"
            )
            said = in_words(str(kind.value), (value.value or "").strip())
            words.set_text(said or "—")

        kind.on_value_change(show_hint)
        value.on_value_change(show_hint)
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
        given = dict(existing.parameters) if existing and existing.parameters else {}
        getter: list[Callable[[], dict[str, Any]]] = [dict]

        def parameters(name: str | None) -> None:
            declared = _declared(name)
            if not declared:
                text = (
                    ui.textarea(
                        "Parameters (JSON object, optional)",
                        value=json.dumps(given) if given else "",
                    )
                    .classes("w-full")
                    .props("outlined dense autogrow " + tid("schedule-parameters"))
                )
                text.mark("schedule-parameters")
                getter[0] = lambda: parse_parameters(text.value or "")
                return
            ui.label("Parameters").classes("text-xs text-grey-7 uppercase")
            fields = {}
            for pname, spec in declared.items():
                fields[pname] = param_field(pname, spec, given.get(pname, spec.default))
                if spec.description:
                    ui.label(spec.description).classes("text-xs text-grey-7 -mt-2")

            def values() -> dict[str, Any]:
                got = {k: g() for k, g in fields.items()}
                return {k: v for k, v in got.items() if v is not None and v != ""}

            getter[0] = values

        with ui.column().classes("w-full gap-2").props(tid("schedule-params")) as box:
            parameters(pipeline.value)

        def other_pipeline(name: str | None) -> None:
            box.clear()
            with box:
                parameters(name)

        pipeline.on_value_change(lambda e: other_pipeline(e.value))
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
                "parameters": getter[0],
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
