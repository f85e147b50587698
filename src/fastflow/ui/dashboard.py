"""Dashboard: every pipeline with start button, stats, last run, running runs, cache status,
enabled toggle and hard limits; the runs active right now, refreshed live."""

from __future__ import annotations

import asyncio

from nicegui import ui

from fastflow.models import RunStatus
from fastflow.pipelines.docstring import description_of
from fastflow.pipelines.service import PipelineView
from fastflow.records import Run, RunFilter
from fastflow.ui import actions, gitsync, session
from fastflow.ui.backup_tile import backup_card
from fastflow.ui.format import duration, rate, short_id, when
from fastflow.ui.layout import frame, status_badge, tid
from fastflow.ui.run_strip import STRIP_RUNS, run_strip
from fastflow.ui.workers import WorkersState, load_workers, signature, workers_panel

REFRESH_SECONDS = 3.0
# `git status` and friends for the sync line: less often than the run list.
SYNC_REFRESH_SECONDS = 30.0
_ACTIVE = [RunStatus.RUNNING.value, RunStatus.PENDING.value]


Strips = dict[str, list[Run]]


def _strips(views: list[PipelineView]) -> Strips:
    """Each pipeline's latest runs, newest first (one indexed query per pipeline)."""
    search = session.services().run_service.search
    return {
        v.definition.name: search(RunFilter(pipeline=v.definition.name), limit=STRIP_RUNS)[0]
        for v in views
    }


async def _load() -> tuple[list[PipelineView], list[Run], Strips]:
    svc = session.services()
    views = await asyncio.to_thread(svc.pipeline_service.list)
    active, _ = await asyncio.to_thread(
        svc.run_service.search, RunFilter(statuses=_ACTIVE), limit=20
    )
    return views, active, await asyncio.to_thread(_strips, views)


async def _open_run(run: Run) -> None:
    ui.navigate.to(f"/runs/{run.id}")


def _pipeline_card(view: PipelineView, operator: bool, recent: list[Run]) -> None:
    d, row = view.definition, view.row
    with ui.card().classes("ff-card w-full").props(tid(f"pipeline-{d.name}")):
        with ui.row().classes("w-full items-center gap-2"):
            ui.link(d.name, f"/pipelines/{d.name}").classes("text-lg font-bold text-primary")
            if not d.valid:
                ui.badge("invalid", color="red-8").classes("text-white")
            ui.space()
            switch = ui.switch("enabled", value=view.enabled).props(tid(f"enabled-{d.name}"))
            switch.set_enabled(operator and d.config.enabled)
            if not d.config.enabled:
                switch.tooltip("disabled in pipeline.json")

            async def toggle(e: object, name: str = d.name) -> None:
                if not await actions.set_enabled(name, bool(switch.value)):
                    switch.set_value(not switch.value)

            switch.on("update:model-value", toggle)
        if d.error:
            ui.label(d.error).classes("text-negative text-sm break-all")
        elif about := description_of(d):
            ui.label(about).classes("text-grey-8 text-sm").props(tid(f"about-{d.name}"))
        if recent:
            run_strip(recent, f"strip-{d.name}")
        with ui.row().classes("gap-x-6 gap-y-1 text-sm"):
            # Cancelled runs count in the total only: say so, so the numbers add up.
            other = row.total_runs - row.successful_runs - row.failed_runs
            ui.label(f"Runs {row.total_runs}").tooltip("finished runs")
            ui.label(f"Success {row.successful_runs}").classes("text-green-9")
            ui.label(f"Failed {row.failed_runs}").classes("text-red-9").tooltip(
                "failed or timed out"
            )
            if other:
                ui.label(f"Cancelled {other}").classes("text-grey-8")
            ui.label(f"Success rate {rate(row.successful_runs, row.total_runs)}").tooltip(
                "successful of all finished runs, cancelled ones included"
            )
            ui.label(f"Running {view.running}").classes("text-blue-9" if view.running else "")
        with ui.row().classes("gap-x-6 gap-y-1 text-sm text-grey-8 items-center"):
            if view.last_run:
                with ui.row().classes("items-center gap-1"):
                    ui.label("Last run")
                    status_badge(view.last_run.status)
                    ui.link(when(view.last_run.created_at), f"/runs/{view.last_run.id}")
            else:
                ui.label("Never run")
            # The environment on disk decides (a run builds it too, not only a warm-up).
            cache = view.cache_status or "not cached"
            ui.label(f"Deps: {'requirements, ' + cache if d.has_requirements else 'none'}")
            ui.label(actions.limits_text(view))
        with ui.row().classes("gap-2"):
            start = ui.button(
                "Start",
                icon="play_arrow",
                on_click=lambda v=view: actions.open_start_dialog(v, _open_run),
            ).props(tid(f"start-{d.name}"))
            start.set_enabled(operator and d.valid and view.enabled)
            ui.button(
                "Runs", icon="list", on_click=lambda n=d.name: ui.navigate.to(f"/runs?pipeline={n}")
            ).props("flat")
            ui.button(
                "Details", icon="info", on_click=lambda n=d.name: ui.navigate.to(f"/pipelines/{n}")
            ).props("flat")


def _active_runs(active: list[Run]) -> None:
    with ui.card().classes("ff-card w-full").props(tid("active-runs")):
        ui.label("Running now").classes("text-lg font-bold")
        if not active:
            ui.label("No run is running or waiting.").classes("text-grey-7 text-sm")
        for run in active:
            with ui.row().classes("items-center gap-3 w-full text-sm"):
                status_badge(run.status)
                ui.link(f"{run.pipeline_name} · {short_id(run.id)}", f"/runs/{run.id}")
                ui.label(duration(run.started_at, None) if run.started_at else "waiting")
                if run.progress is not None:
                    ui.linear_progress(run.progress / 100, show_value=False).classes("w-32").props(
                        "rounded color=primary"
                    )
                    ui.label(f"{run.progress}% {run.progress_text or ''}").classes(
                        "text-grey-8 truncate max-w-[16rem]"
                    )


def _sync_card(operator: bool) -> None:
    """The git sync line and button; details on the sync page."""
    with ui.card().classes("ff-card w-full").props(tid("sync-card")):
        with ui.row().classes("items-center gap-2 w-full"):
            ui.label("Git sync").classes("text-lg font-bold")
            ui.space()
            ui.link("details", "/sync").classes("text-sm text-primary")

        @ui.refreshable
        def line(status: dict[str, object]) -> None:
            ui.label(gitsync.summary(status)).classes("text-sm text-grey-9 break-all").props(
                tid("sync-line")
            )

        async def reload() -> None:
            line.refresh(await gitsync.load_status())

        line({"is_git_checkout": True, "branch": "…"})
        gitsync.sync_button(operator, reload).props("dense")
        ui.timer(0.01, reload, once=True)
        ui.timer(SYNC_REFRESH_SECONDS, reload)


def _signature(views: list[PipelineView], active: list[Run], strips: Strips) -> object:
    return (
        [
            (
                v.definition.name,
                v.enabled,
                v.running,
                v.row.total_runs,
                v.row.successful_runs,
                v.row.failed_runs,
                v.last_run.id if v.last_run else None,
                v.last_run.status if v.last_run else None,
                v.definition.error,
            )
            for v in views
        ],
        [(r.id, r.status, r.progress) for r in active],
        {name: [(r.id, r.status) for r in runs] for name, runs in strips.items()},
    )


def register() -> None:
    @ui.page("/")
    async def dashboard_page() -> None:
        with frame("Dashboard") as user:
            operator = session.can_operate(user)
            views, active, strips = await _load()
            with ui.grid().classes("w-full gap-3 grid-cols-1 lg:grid-cols-2"):
                _sync_card(operator)

                @ui.refreshable
                def workers(state: WorkersState) -> None:
                    workers_panel(state)

                state = await load_workers()
                workers(state)
                backup_card()
            workers_shown = [signature(state)]

            @ui.refreshable
            def body(views: list[PipelineView], active: list[Run], strips: Strips) -> None:
                _active_runs(active)
                with ui.row().classes("items-center w-full"):
                    ui.label("Pipelines").classes("text-xl font-bold")
                    ui.label(f"{len(views)}").classes("text-grey-7")
                if not views:
                    ui.label(
                        "No pipelines found. Put main.py folders or .py files in PIPELINES_DIR."
                    ).classes("text-grey-8")
                with ui.grid().classes("w-full gap-3 grid-cols-1 lg:grid-cols-2"):
                    for view in views:
                        _pipeline_card(view, operator, strips.get(view.definition.name, []))

            body(views, active, strips)

            shown = [_signature(views, active, strips)]

            async def refresh() -> None:
                state = await load_workers()
                if (wsig := signature(state)) != workers_shown[0]:
                    workers_shown[0] = wsig
                    workers.refresh(state)
                views, active, strips = await _load()
                # Rebuilt only on change: no flicker, and a half-filled toggle is left alone.
                if (sig := _signature(views, active, strips)) != shown[0]:
                    shown[0] = sig
                    body.refresh(views, active, strips)

            ui.timer(REFRESH_SECONDS, refresh)
