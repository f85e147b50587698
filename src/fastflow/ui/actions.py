"""Actions shared by several pages: start a pipeline (with its parameter form), toggle it,
cancel and retry runs. Each goes through `perform`: the acting user's role checked again, the
same service call as the API off the event loop, and a toast either way."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from nicegui import ui

from fastflow.errors import FastflowError
from fastflow.models import Role, Trigger
from fastflow.pipelines.config import ParameterSpec
from fastflow.pipelines.service import PipelineView
from fastflow.records import Run, User
from fastflow.ui import session
from fastflow.ui.layout import confirm, tid, toast_error

T = TypeVar("T")
Kind = Literal["positive", "negative", "warning", "info"]


@dataclass(frozen=True)
class Done(Generic[T]):
    """An action that went through, with what the service answered."""

    value: T


async def perform(
    needs: Role,
    work: Callable[[User], T],
    success: str | Callable[[T], str],
    kind: Kind = "positive",
    on_error: Callable[[str], None] | None = None,
) -> Done[T] | None:
    """Run one user action: re-check the role, call the service off the event loop, toast.

    `work` gets the acting user; a FastflowError (bad input, not allowed, conflict...) becomes
    a red toast with its message — or goes to `on_error`, e.g. to show it by a form — and
    None. The success toast is `success`, or built from the answer.
    """
    return await perform_async(
        needs, lambda user: asyncio.to_thread(work, user), success, kind, on_error
    )


async def perform_async(
    needs: Role,
    work: Callable[[User], Awaitable[T]],
    success: str | Callable[[T], str],
    kind: Kind = "positive",
    on_error: Callable[[str], None] | None = None,
) -> Done[T] | None:
    """`perform` for services that are coroutines themselves (git sync)."""
    try:
        user = await session.acting_user(needs)
        value = await work(user)
    except FastflowError as exc:
        if on_error is None:
            toast_error(exc)
        else:
            on_error(exc.message)  # shown by the form; a toast on top would repeat it
        return None
    message = success if isinstance(success, str) else success(value)
    ui.notify(message, type=kind, position="top", multi_line=True)
    return Done(value)


async def start_run(name: str, parameters: dict[str, Any]) -> Run | None:
    """Start a run as the session's user; a toast either way; the run or None."""
    done = await perform(
        Role.OPERATOR,
        lambda user: session.services().run_service.start(
            name, parameters, trigger=Trigger.MANUAL, triggered_by=user.username
        ),
        lambda run: f"Started {name} (run {run.id[:8]})",
    )
    return done.value if done else None


async def cancel_run(run_id: str) -> bool:
    """Ask a run to stop (operator)."""
    done = await perform(
        Role.OPERATOR,
        lambda _: session.services().run_service.cancel(run_id),
        "Cancel requested",
        kind="warning",
    )
    return done is not None


async def retry_run(run_id: str) -> Run | None:
    """Start a run again with the same parameters (operator); the new run or None."""
    done = await perform(
        Role.OPERATOR,
        lambda user: session.services().run_service.retry(run_id, triggered_by=user.username),
        lambda run: f"Retry started (run {run.id[:8]})",
    )
    return done.value if done else None


def _toggle(name: str, enabled: bool) -> list[str]:
    svc = session.services()
    svc.pipeline_service.set_enabled(name, enabled)
    # As the API's disable route: name the schedules that will now skip their ticks.
    return [] if enabled else svc.scheduler.warnings_for(name)


async def set_enabled(name: str, enabled: bool) -> bool:
    """Enable or disable a pipeline (operator); warns about schedules of a disabled one."""
    done = await perform(
        Role.OPERATOR,
        lambda _: _toggle(name, enabled),
        lambda warnings: " ".join([f"{name} {'enabled' if enabled else 'disabled'}.", *warnings]),
    )
    return done is not None


async def reset_stats(name: str) -> bool:
    """Set a pipeline's run counters back to zero (operator)."""
    done = await perform(
        Role.OPERATOR,
        lambda _: session.services().pipeline_store.reset_stats(name),
        f"Statistics of {name} reset",
    )
    return done is not None


def param_field(name: str, spec: ParameterSpec, value: Any = None) -> Callable[[], Any]:
    """One input for a declared parameter (filled with `value`, else its default); returns a
    getter for its value."""
    return _field(name, spec, spec.default if value is None else value)


def _field(name: str, spec: ParameterSpec, initial: Any = None) -> Callable[[], Any]:
    """One input for a declared parameter; returns a getter for its value."""
    label = f"{name}{' *' if spec.required else ''}"
    initial = spec.default if initial is None else initial
    if spec.type == "boolean":
        box = ui.checkbox(label, value=bool(initial)).props(tid(f"param-{name}"))
        return lambda: box.value
    if spec.type in ("integer", "number"):
        num = ui.number(label, value=initial).props("outlined dense").classes("w-full")
        num.props(tid(f"param-{name}"))
        if spec.type == "integer":
            return lambda: None if num.value is None else int(num.value)
        return lambda: num.value
    default = "" if initial is None else str(initial)
    text = ui.input(label, value=default).props("outlined dense").classes("w-full")
    text.props(tid(f"param-{name}")).mark(f"param-{name}")
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


def delete_button(
    needs: Role,
    work: Callable[[User], object],
    question: str,
    detail: str,
    done: str,
    after: Callable[[], Awaitable[None]],
    testid: str,
    enabled: bool,
) -> None:
    """A red Delete button that asks first (`question`, `detail`), then performs `work`."""

    async def delete() -> None:
        if await perform(needs, work, done):
            await after()

    button = ui.button(
        "Delete",
        icon="delete",
        on_click=lambda: confirm(question, detail, "Delete", delete, testid=f"{testid}-confirm"),
    ).props("flat dense color=negative " + tid(testid))
    button.set_enabled(enabled)
