"""Run detail: every run field, cancel/retry, progress, health, live log viewer, artifacts,
CPU/RAM charts. The log card is `run_log`, the fields card `run_fields`."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from fastflow.errors import FastflowError
from fastflow.events.metrics_file import read_metrics
from fastflow.models import RunStatus
from fastflow.records import Run
from fastflow.ui import actions, clock, session
from fastflow.ui.charts import ChartLimits, assess, chart_options
from fastflow.ui.downloads import log_url, metrics_url
from fastflow.ui.format import short_id
from fastflow.ui.layout import frame, status_badge, tid
from fastflow.ui.log_follow import LogFollower
from fastflow.ui.run_artifacts import ArtifactsPanel
from fastflow.ui.run_fields import HealthLine, fields
from fastflow.ui.run_log import HISTORY_LINES, LINES_PER_TICK, TICK_SECONDS, LogPanel, last_progress

HEALTH_SECONDS = 5.0
MAX_PENDING = 20_000  # lines waiting for the browser; beyond that the oldest become a gap
_MB = 1024 * 1024


def _limits(run: Run) -> tuple[ChartLimits, ChartLimits]:
    """CPU (%) and RAM (MB) limits of the run's pipeline as configured now."""
    try:
        cfg = session.services().catalog.get(run.pipeline_name).config
    except FastflowError:
        return ChartLimits(None, None), ChartLimits(None, None)
    cpu = ChartLimits(
        cfg.cpu_soft_limit * 100 if cfg.cpu_soft_limit else None,
        cfg.cpu_hard_limit * 100 if cfg.cpu_hard_limit else None,
    )
    soft, hard = cfg.mem_soft_limit_bytes, cfg.mem_hard_limit_bytes
    ram = ChartLimits(
        round(soft / _MB, 1) if soft else None, round(hard / _MB, 1) if hard else None
    )
    return cpu, ram


class RunView:
    """One browser tab looking at one run."""

    def __init__(self, run: Run, operator: bool) -> None:
        self.run = run
        self.operator = operator
        self.svc = session.services()
        self.cpu_limits, self.ram_limits = _limits(run)
        self.samples: list[dict[str, Any]] = []
        self.last_sample_ts = ""
        log_path = self.svc.run_service.log_path(run.id)
        self.follower = LogFollower(
            self.svc.fanout, run.id, log_path, history_lines=HISTORY_LINES, max_pending=MAX_PENDING
        )
        self.log_panel = LogPanel(run.id, log_path)
        self.log_panel.on_drained = self.tick  # the browser is ready: the next batch now
        self._ticking = asyncio.Lock()
        self.reported: dict[str, Any] | None = None  # the last progress the run reported live

    # -- building ---------------------------------------------------------------------------

    def build(self) -> None:
        run = self.run
        with ui.row().classes("items-center gap-3 w-full"):
            ui.label(f"{run.pipeline_name}").classes("text-2xl font-bold")
            ui.label(short_id(run.id)).classes("ff-mono text-grey-8")
            self.badge_box = ui.row().classes("items-center").props(tid("run-status"))
            ui.space()
            self.cancel_btn = ui.button(
                "Cancel", icon="stop", color="negative", on_click=self.cancel
            )
            self.cancel_btn.props(tid("cancel"))
            self.retry_btn = ui.button("Retry", icon="replay", on_click=self.retry).props(
                tid("retry")
            )
            with (
                ui.button("Download", icon="download").props("outline").props(tid("downloads")),
                ui.menu(),
            ):
                ui.menu_item("Full log (.log)", lambda: ui.navigate.to(log_url(run.id), True))
                ui.menu_item("Metrics (.jsonl)", lambda: ui.navigate.to(metrics_url(run.id), True))
        with ui.row().classes("items-center w-full gap-3"):
            self.progress = (
                ui.linear_progress(0, show_value=False, size="10px")
                .props("rounded color=primary")
                .classes("flex-1")
                .props(tid("progress"))
            )
            self.progress_label = ui.label().classes("text-sm text-grey-8 min-w-[8rem]")
        self.health = HealthLine()
        # On a phone the log comes first: the fields card follows it (CSS order).
        with ui.element("div").classes("w-full flex flex-col gap-3"):
            self.fields = ui.element("div").classes("w-full max-sm:order-2")
            with ui.element("div").classes("w-full max-sm:order-1"):
                self.log_panel.build()
        self.artifacts = ArtifactsPanel(run.id)
        self._build_charts()
        self.render_state()

    def _build_charts(self) -> None:
        with ui.card().classes("ff-card w-full"):
            with ui.row().classes("items-center gap-2"):
                ui.label("Resources").classes("text-lg font-bold")
                self.warn_box = ui.row().classes("gap-2").props(tid("limit-warnings"))
            self.no_samples = ui.label().classes("text-sm text-grey-7").props(tid("no-samples"))
            self.chart_grid = ui.grid().classes("w-full grid-cols-1 md:grid-cols-2 gap-3")
            with self.chart_grid:
                self.cpu_chart = ui.echart(self._cpu_options()).classes("w-full h-64")
                self.cpu_chart.props(tid("cpu-chart"))
                self.ram_chart = ui.echart(self._ram_options()).classes("w-full h-64")
                self.ram_chart.props(tid("ram-chart"))

    def _cpu_options(self) -> dict[str, Any]:
        pts = [[s["timestamp"], s.get("cpu_percent", 0)] for s in self.samples]
        return chart_options("CPU", "%", pts, self.cpu_limits, "#2563eb")

    def _ram_options(self) -> dict[str, Any]:
        pts = [[s["timestamp"], s.get("ram_mb", 0)] for s in self.samples]
        limits = self.ram_limits
        if limits.hard is None and self.samples and self.samples[-1].get("ram_limit_mb"):
            limits = ChartLimits(limits.soft, self.samples[-1]["ram_limit_mb"])
        return chart_options("RAM", "MB", pts, limits, "#7c3aed")

    # -- state --------------------------------------------------------------------------------

    def render_state(self) -> None:
        run = self.run
        status = RunStatus(run.status)
        self.badge_box.clear()
        with self.badge_box:
            status_badge(run.status)
        self.cancel_btn.set_visibility(not status.is_terminal)
        self.cancel_btn.set_enabled(self.operator and not run.cancel_requested)
        self.retry_btn.set_visibility(status.is_terminal)
        self.retry_btn.set_enabled(self.operator)
        if status is RunStatus.SUCCESS:
            self.progress.set_value(1.0)
        elif run.progress is not None:
            self.progress.set_value(run.progress / 100)
        self.progress.props(f"color={'primary' if not status.is_terminal else 'grey-6'}")
        text = f"{run.progress}%" if run.progress is not None else ""
        self.progress_label.set_text(f"{text} {run.progress_text or ''}".strip())
        self.fields.clear()
        with self.fields:
            fields(run)

    async def reload(self) -> None:
        self.run = await asyncio.to_thread(self.svc.run_service.get, self.run.id)
        self.render_state()

    # -- live -----------------------------------------------------------------------------------

    async def start(self) -> None:
        samples = await asyncio.to_thread(
            lambda: list(read_metrics(self.svc.run_service.metrics_path(self.run.id)))
        )
        self._add_samples(samples)
        self._show_sampling()
        log_path = self.svc.run_service.log_path(self.run.id)
        reported = await asyncio.to_thread(last_progress, log_path)
        if reported is not None:
            self._set_progress(reported)
        await self.artifacts.refresh()
        self.follower.start()
        self.timer = ui.timer(TICK_SECONDS, self.tick)
        self.health_timer = ui.timer(HEALTH_SECONDS, self.check_health)
        await self.check_health()

    async def stop(self) -> None:
        await self.follower.stop()

    def _add_samples(self, samples: list[dict[str, Any]]) -> None:
        new = [s for s in samples if str(s.get("timestamp", "")) > self.last_sample_ts]
        if not new:
            return
        self.samples.extend(new)
        self.last_sample_ts = str(new[-1]["timestamp"])
        self.cpu_chart.options.clear()
        self.cpu_chart.options.update(self._cpu_options())
        self.ram_chart.options.clear()
        self.ram_chart.options.update(self._ram_options())
        self.cpu_chart.update()
        self.ram_chart.update()
        self._show_sampling()
        self._render_warnings()

    def _show_sampling(self) -> None:
        """Charts once there are samples; until then (or for a run too short to sample) words."""
        has = len(self.samples) >= 2  # one point makes no line (and a nonsense time axis)
        self.chart_grid.set_visibility(has)
        self.no_samples.set_visibility(not has)
        if not has:
            over = RunStatus(self.run.status).is_terminal
            self.no_samples.set_text(
                "This run was too short to chart: resources are sampled once a second, "
                f"and it ended after {len(self.samples)} sample(s)."
                if over
                else "Waiting for resource samples (taken once a second)…"
            )

    def _set_progress(self, status: dict[str, Any]) -> None:
        self.run.progress = int(status["progress"])
        self.run.progress_text = status.get("text")
        self.progress.set_value(self.run.progress / 100)
        text = f"{self.run.progress}% {self.run.progress_text or ''}".strip()
        self.progress_label.set_text(text)

    def _render_warnings(self) -> None:
        w = assess(self.samples, self.cpu_limits, self.ram_limits)
        self.warn_box.clear()
        with self.warn_box:
            if w.soft_exceeded:
                ui.badge("soft limit exceeded", color="amber-9").classes("text-white")
            if w.hard_reached:
                ui.badge("hard limit reached", color="red-8").classes("text-white")
            if w.throttled:
                ui.badge("CPU throttled at its limit", color="red-8").classes("text-white")

    async def tick(self) -> None:
        if self._ticking.locked():
            return  # the timer and the browser's "drained" both call this
        async with self._ticking:
            await self._tick()

    async def _tick(self) -> None:
        batch = self.follower.drain(0 if self.log_panel.waiting else LINES_PER_TICK)
        if batch.items:
            self.log_panel.push(batch.items)
            self.health.output_at(self.log_panel.last_output)
        if batch.metrics:
            self._add_samples([{k: v for k, v in m.items() if k != "type"} for m in batch.metrics])
        if batch.status is not None and batch.status.get("progress") is not None:
            self.reported = batch.status
            self._set_progress(batch.status)
        if batch.status is not None and batch.status.get("status") != self.run.status:
            await self.reload()
        if batch.complete is not None:
            await self._settled()

    async def check_health(self) -> None:
        if RunStatus(self.run.status).is_terminal:
            self.health.hide()
            self.health_timer.deactivate()
            return
        self.health.health(await self.svc.run_service.health(self.run.id))

    async def _settled(self) -> None:
        # The log is written before the database: wait briefly for the row to catch up.
        for _ in range(40):
            await self.reload()
            if RunStatus(self.run.status).is_terminal:
                break
            await asyncio.sleep(0.25)
        self.timer.deactivate()
        if self.reported is not None:
            self._set_progress(self.reported)  # the last the run said, not an older saved one
        self._show_sampling()
        await self.check_health()
        await self.artifacts.refresh()

    # -- actions -------------------------------------------------------------------------------

    async def cancel(self) -> None:
        self.cancel_btn.props("loading")
        if await actions.cancel_run(self.run.id):
            await self.reload()
        self.cancel_btn.props(remove="loading")

    async def retry(self) -> None:
        run = await actions.retry_run(self.run.id)
        if run is not None:
            ui.navigate.to(f"/runs/{run.id}")


def register() -> None:
    @ui.page("/runs/{run_id}")
    async def run_page(run_id: str) -> None:
        try:
            run = await asyncio.to_thread(session.services().runs.get, run_id)
        except FastflowError as exc:
            with frame("Run", [("Runs", "/runs"), (run_id[:12], None)]):
                ui.label(exc.message).classes("text-negative")
            return
        crumbs = [
            ("Runs", "/runs"),
            (run.pipeline_name, f"/pipelines/{run.pipeline_name}"),
            (short_id(run.id), None),
        ]
        with frame(f"Run {short_id(run.id)}", crumbs) as user:
            clock.install()
            view = RunView(run, session.can_operate(user))
            view.build()
        await view.start()
        ui.context.client.on_disconnect(view.stop)
