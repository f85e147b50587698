"""Actions shared by several pages: start a pipeline (with its parameter form), toggle it,
cancel and retry runs. Each checks the acting user's role again, calls the same services as
the API off the event loop, and answers with a toast."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from nicegui import ui

from fastflow.errors import FastflowError
from fastflow.models import Role, Trigger
from fastflow.pipelines.config import ParameterSpec
from fastflow.pipelines.service import PipelineView
from fastflow.storage.tables import Run
from fastflow.ui import session
from fastflow.ui.layout import tid, toast_error


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


async def start_run(name: str, parameters: dict[str, Any]) -> Run | None:
    """Start a run as the session's user; a toast either way; the run or None."""
    try:
        user = await session.acting_user(Role.OPERATOR)
        run: Run = await _call(
            session.services().run_service.start,
            name,
            parameters,
            trigger=Trigger.MANUAL,
            triggered_by=user.username,
        )
    except FastflowError as exc:
        toast_error(exc)
        return None
    ui.notify(f"Started {name} (run {run.id[:8]})", type="positive", position="top")
    return run


async def cancel_run(run_id: str) -> bool:
    try:
        await session.acting_user(Role.OPERATOR)
        await _call(session.services().run_service.cancel, run_id)
    except FastflowError as exc:
        toast_error(exc)
        return False
    ui.notify("Cancel requested", type="warning", position="top")
    return True


async def retry_run(run_id: str) -> Run | None:
    try:
        user = await session.acting_user(Role.OPERATOR)
        run: Run = await _call(
            session.services().run_service.retry, run_id, triggered_by=user.username
        )
    except FastflowError as exc:
        toast_error(exc)
        return None
    ui.notify(f"Retry started (run {run.id[:8]})", type="positive", position="top")
    return run


async def set_enabled(name: str, enabled: bool) -> bool:
    try:
        await session.acting_user(Role.OPERATOR)
        await _call(session.services().pipeline_store.set_enabled, name, enabled)
    except FastflowError as exc:
        toast_error(exc)
        return False
    ui.notify(f"{name} {'enabled' if enabled else 'disabled'}", position="top")
    return True


async def reset_stats(name: str) -> bool:
    try:
        await session.acting_user(Role.OPERATOR)
        await _call(session.services().pipeline_store.reset_stats, name)
    except FastflowError as exc:
        toast_error(exc)
        return False
    ui.notify(f"Statistics of {name} reset", type="positive", position="top")
    return True


def _field(name: str, spec: ParameterSpec) -> Callable[[], Any]:
    """One input for a declared parameter; returns a getter for its value."""
    label = f"{name}{' *' if spec.required else ''}"
    if spec.type == "boolean":
        box = ui.checkbox(label, value=bool(spec.default)).props(tid(f"param-{name}"))
        return lambda: box.value
    if spec.type in ("integer", "number"):
        num = ui.number(label, value=spec.default).props("outlined dense").classes("w-full")
        num.props(tid(f"param-{name}"))
        if spec.type == "integer":
            return lambda: None if num.value is None else int(num.value)
        return lambda: num.value
    default = "" if spec.default is None else str(spec.default)
    text = ui.input(label, value=default).props("outlined dense").classes("w-full")
    text.props(tid(f"param-{name}"))
    return lambda: text.value


def open_start_dialog(view: PipelineView, on_started: Callable[[Run], Awaitable[None]]) -> None:
    """A dialog with the pipeline's declared parameters (pipeline.json) and its limits."""
    cfg = view.definition.config
    getters: dict[str, Callable[[], Any]] = {}
    # In the page layout, not the clicked card: a live refresh of the card must not take
    # the open dialog with it.
    with (
        ui.context.client.layout,
        ui.dialog() as dialog,
        ui.card().classes("w-[28rem] max-w-[95vw]"),
    ):
        ui.label(f"Start {view.definition.name}").classes("text-lg font-bold")
        if cfg.description:
            ui.label(cfg.description).classes("text-grey-8 text-sm")
        ui.label(limits_text(view)).classes("text-sm text-grey-8")
        for name, spec in cfg.parameters.items():
            getters[name] = _field(name, spec)
            if spec.description:
                ui.label(spec.description).classes("text-xs text-grey-7 -mt-2")
        if not cfg.parameters:
            ui.label("This pipeline declares no parameters.").classes("text-sm text-grey-7")

        async def go() -> None:
            button.props("loading")
            values = {k: g() for k, g in getters.items()}
            params = {k: v for k, v in values.items() if v is not None and v != ""}
            run = await start_run(view.definition.name, params)
            button.props(remove="loading")
            if run is not None:
                dialog.close()
                await on_started(run)

        with ui.row().classes("w-full justify-end"):
            ui.button("Cancel", on_click=dialog.close).props("flat")
            button = ui.button("Start", icon="play_arrow", on_click=go).props(tid("start-confirm"))
    dialog.on("hide", dialog.delete)
    dialog.open()


def limits_text(view: PipelineView) -> str:
    """'CPU 2 cores (soft 1.5) · RAM 512m (soft 256m) · timeout 60s', or 'no limits'."""
    cfg = view.definition.config
    parts = []
    if cfg.cpu_hard_limit or cfg.cpu_soft_limit:
        soft = f" (soft {cfg.cpu_soft_limit:g})" if cfg.cpu_soft_limit else ""
        hard = f"{cfg.cpu_hard_limit:g} cores" if cfg.cpu_hard_limit else "no hard limit"
        parts.append(f"CPU {hard}{soft}")
    if cfg.mem_hard_limit or cfg.mem_soft_limit:
        soft = f" (soft {cfg.mem_soft_limit})" if cfg.mem_soft_limit else ""
        parts.append(f"RAM {cfg.mem_hard_limit or 'no hard limit'}{soft}")
    if cfg.timeout:
        parts.append(f"timeout {cfg.timeout:g}s")
    return " · ".join(parts) if parts else "No resource limits"
