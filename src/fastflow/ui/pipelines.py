"""Pipelines: the list, and per pipeline its details, stats with reset,
enable toggle, limits, start with its parameter form, and its latest runs."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from fastflow.errors import FastflowError
from fastflow.pipelines.docstring import description_of
from fastflow.pipelines.service import PipelineView
from fastflow.records import Run, RunFilter
from fastflow.ui import actions, limit_warnings, session
from fastflow.ui.format import duration, rate, short_id, when
from fastflow.ui.layout import confirm, frame, status_badge, tid
from fastflow.ui.run_strip import STRIP_RUNS, run_strip

RECENT_RUNS = 10


async def _open_run(run: Run) -> None:
    ui.navigate.to(f"/runs/{run.id}")


def _facts(
    view: PipelineView, recent: list[Run], scheduled: int, start: str
) -> list[tuple[str, str]]:
    d, row, cfg = view.definition, view.row, view.definition.config
    finished = [r for r in recent if r.started_at and r.finished_at]
    avg = "—"
    if finished:
        secs = sum(
            (r.finished_at - r.started_at).total_seconds()
            for r in finished
            if r.finished_at and r.started_at
        )
        avg = f"{secs / len(finished):.1f}s (last {len(finished)})"
    return [
        ("Name", d.name),
        ("Kind", "folder with main.py" if d.kind == "folder" else "single file"),
        ("Path", str(d.path)),
        ("Entrypoint", d.entrypoint.name),
        ("Known since", when(row.created_at)),
        ("Requirements", "yes" if d.has_requirements else "no"),
        ("Cache warm-up", when(row.last_cache_warmup)),
        ("Executor", cfg.executor or "default"),
        ("Start", start),
        ("Timeout", f"{cfg.timeout:g}s" if cfg.timeout else "—"),
        ("Retries", "default" if cfg.retries is None else str(cfg.retries)),
        ("CPU hard / soft", f"{cfg.cpu_hard_limit or '—'} / {cfg.cpu_soft_limit or '—'} cores"),
        ("RAM hard / soft", f"{cfg.mem_hard_limit or '—'} / {cfg.mem_soft_limit or '—'}"),
        ("Average duration", avg),
        ("Tags", ", ".join(cfg.tags) or "—"),
        ("Scheduled jobs", str(scheduled)),
    ]


def _samples(runs: list[Run]) -> dict[str, list[dict[str, Any]]]:
    """The metrics samples of the finished runs (for the soft-limit warnings)."""
    metrics = session.services().run_service.metrics
    out: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run.finished_at is None:
            continue
        try:
            out[run.id] = metrics(run.id)
        except (FastflowError, OSError, ValueError):
            out[run.id] = []
    return out


def _confirm_reset(name: str) -> None:
    async def reset() -> None:
        if await actions.reset_stats(name):
            ui.navigate.reload()

    confirm(
        f"Reset the statistics of {name}?",
        "Total, successful and failed counts go back to zero. Runs are kept.",
        "Reset",
        reset,
        testid="reset-confirm",
    )


def register() -> None:
    @ui.page("/pipelines")
    async def pipelines_page(q: str | None = None) -> None:
        views = await asyncio.to_thread(session.services().pipeline_service.list)
        if q:
            # The header search: names containing the text, case aside.
            views = [v for v in views if q.casefold() in v.definition.name.casefold()]
        with frame("Pipelines", [("Pipelines", None)]):
            if q:
                with ui.row().classes("items-center gap-2 text-sm"):
                    ui.label(f"{len(views)} pipeline(s) matching “{q[:80]}”").props(
                        tid("pipelines-query")
                    )
                    ui.link("show all", "/pipelines").classes("text-primary")
            columns: list[dict[str, object]] = [
                {
                    "name": "name",
                    "label": "Pipeline",
                    "field": "name",
                    "align": "left",
                    "sortable": True,
                },
                {"name": "about", "label": "Description", "field": "about", "align": "left"},
                {"name": "enabled", "label": "Enabled", "field": "enabled", "align": "left"},
                {"name": "runs", "label": "Runs", "field": "runs", "align": "right"},
                {"name": "rate", "label": "Success rate", "field": "rate", "align": "right"},
                {"name": "last", "label": "Last run", "field": "last", "align": "left"},
                {"name": "limits", "label": "Limits", "field": "limits", "align": "left"},
            ]
            rows = [
                {
                    "name": v.definition.name,
                    "about": (description_of(v.definition) or "")[:120],
                    "enabled": ("yes" if v.enabled else "no")
                    + ("" if v.definition.valid else " (invalid)"),
                    "runs": v.row.total_runs,
                    "rate": rate(v.row.successful_runs, v.row.total_runs),
                    "last": f"{v.last_run.status} {when(v.last_run.created_at)}"
                    if v.last_run
                    else "—",
                    "limits": actions.limits_text(v),
                }
                for v in views
            ]
            table = ui.table(columns=columns, rows=rows, row_key="name").classes("w-full")
            table.props("flat bordered").props(tid("pipelines-table"))
            table.add_slot(
                "body-cell-name",
                '<q-td :props="props"><a class="text-primary font-medium" '
                ":href=\"'/pipelines/' + props.value\">{{ props.value }}</a></q-td>",
            )

    @ui.page("/pipelines/{name}")
    async def pipeline_page(name: str) -> None:
        svc = session.services()
        try:
            view = await asyncio.to_thread(svc.pipeline_service.get, name)
            recent, _ = await asyncio.to_thread(
                svc.run_service.search, RunFilter(pipeline=name), STRIP_RUNS
            )
            samples = await asyncio.to_thread(_samples, recent[:RECENT_RUNS])
            scheduled = await asyncio.to_thread(svc.scheduler.all, name)
        except FastflowError as exc:
            with frame("Pipeline", [("Pipelines", "/pipelines"), (name[:40], None)]):
                ui.label(exc.message).classes("text-negative")
            return
        d, row = view.definition, view.row
        with frame(d.name, [("Pipelines", "/pipelines"), (d.name, None)]) as user:
            operator = session.can_operate(user)
            with ui.row().classes("items-center w-full gap-3"):
                ui.label(d.name).classes("text-2xl font-bold")
                if not d.valid:
                    ui.badge("invalid", color="red-8").classes("text-white")
                ui.space()
                switch = ui.switch("enabled", value=view.enabled).props(tid("enabled"))
                switch.set_enabled(operator and d.config.enabled)

                async def toggle() -> None:
                    if not await actions.set_enabled(d.name, bool(switch.value)):
                        switch.set_value(not switch.value)

                switch.on("update:model-value", toggle)
                start = ui.button(
                    "Start",
                    icon="play_arrow",
                    on_click=lambda: actions.open_start_dialog(view, _open_run),
                ).props(tid("start"))
                start.set_enabled(operator and d.valid and view.enabled)
            if d.error:
                ui.label(d.error).classes("text-negative break-all")
            if about := description_of(d):
                ui.label(about).classes("text-grey-8").props(tid("pipeline-about"))
            if recent:
                run_strip(recent, "pipeline-strip")
            found = limit_warnings.warnings(d.config, recent[:RECENT_RUNS], samples)
            if found:
                with (
                    ui.card()
                    .classes("ff-card w-full bg-orange-1 text-orange-10")
                    .props(tid("limit-warnings"))
                ):
                    with ui.row().classes("items-center gap-2"):
                        ui.icon("warning", color="orange-9")
                        ui.label("Limits").classes("font-bold")
                    for sentence in found:
                        ui.label(sentence).classes("text-sm")
            with ui.card().classes("ff-card w-full"):
                with ui.row().classes("items-center w-full"):
                    ui.label("Statistics").classes("text-lg font-bold")
                    ui.space()
                    reset = (
                        ui.button(
                            "Reset",
                            icon="restart_alt",
                            on_click=lambda: _confirm_reset(d.name),
                        )
                        .props("flat color=negative")
                        .props(tid("reset-stats"))
                    )
                    reset.set_enabled(operator)
                with ui.row().classes("gap-8"):
                    for label, value in (
                        ("Total", str(row.total_runs)),
                        ("Successful", str(row.successful_runs)),
                        ("Failed", str(row.failed_runs)),
                        ("Success rate", rate(row.successful_runs, row.total_runs)),
                        ("Running", str(view.running)),
                    ):
                        with ui.column().classes("gap-0"):
                            ui.label(label).classes("text-xs text-grey-7 uppercase")
                            ui.label(value).classes("text-xl font-medium").props(
                                tid(f"stat-{label}")
                            )
                if row.stats_reset_at:
                    ui.label(f"since reset at {when(row.stats_reset_at)}").classes(
                        "text-xs text-grey-7"
                    )
            with ui.card().classes("ff-card w-full"):
                ui.label("Details").classes("text-lg font-bold")
                with ui.grid().classes(
                    "w-full gap-x-6 gap-y-1 grid-cols-1 sm:grid-cols-2 lg:grid-cols-3"
                ):
                    how = svc.warm.describe(d.name)  # warm or cold, and why
                    for label, value in _facts(view, recent, len(scheduled), how):
                        with ui.column().classes("gap-0 min-w-0"):
                            ui.label(label).classes("text-xs text-grey-7 uppercase")
                            ui.label(value).classes("text-sm break-all")
                if scheduled:
                    ui.link(
                        f"{len(scheduled)} schedule(s) of {d.name}", f"/schedules?pipeline={d.name}"
                    ).classes("text-sm text-primary")
                if d.config.parameters:
                    ui.label("Parameters").classes("text-xs text-grey-7 uppercase mt-2")
                    for pname, spec in d.config.parameters.items():
                        text = f"{pname} = {spec.default!r} ({spec.type})"
                        if spec.description:
                            text += f" — {spec.description}"
                        ui.label(text).classes("text-sm ff-mono")
            with ui.card().classes("ff-card w-full"):
                with ui.row().classes("items-center w-full"):
                    ui.label("Latest runs").classes("text-lg font-bold")
                    ui.space()
                    ui.link("all runs", f"/runs?pipeline={d.name}")
                if not recent:
                    ui.label("No runs yet.").classes("text-grey-7 text-sm")
                for run in recent[:RECENT_RUNS]:
                    with ui.row().classes("items-center gap-3 text-sm"):
                        status_badge(run.status)
                        ui.link(short_id(run.id), f"/runs/{run.id}").classes("ff-mono")
                        ui.label(when(run.created_at))
                        ui.label(duration(run.started_at, run.finished_at)).classes("text-grey-8")
