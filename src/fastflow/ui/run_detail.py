"""Run detail: every run field, cancel/retry, progress, live log viewer, CPU/RAM charts."""

from __future__ import annotations

import asyncio
from typing import Any

from nicegui import ui

from fastflow.errors import FastflowError
from fastflow.events.log import read_events
from fastflow.events.metrics_file import read_metrics
from fastflow.events.types import LOG
from fastflow.models import FAILURE_MESSAGES, FailureKind, RunStatus
from fastflow.records import Run
from fastflow.ui import actions, session
from fastflow.ui.charts import RED, ChartLimits, assess, chart_options
from fastflow.ui.downloads import log_url, metrics_url
from fastflow.ui.format import duration, short_id, when
from fastflow.ui.layout import frame, status_badge, tid
from fastflow.ui.log_follow import Gap, LogFollower
from fastflow.ui.run_artifacts import ArtifactsPanel

MAX_LINES = 1000  # lines kept in the browser; the full log is a download away
TICK_SECONDS = 0.25
LINES_PER_TICK = 150  # at most 600 lines/s reach the browser; the rest is marked as a gap
SEARCH_LIMIT = 500
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


def _search(path: Any, needle: str) -> tuple[list[tuple[int, str]], bool]:
    """Lines of the whole log file containing `needle` (case-insensitive), capped."""
    needle = needle.lower()
    hits: list[tuple[int, str]] = []
    for event in read_events(path, types=frozenset({LOG})):
        if needle in event["line"].lower():
            hits.append((int(event["seq"]), event["line"]))
            if len(hits) >= SEARCH_LIMIT:
                return hits, True
    return hits, False


class RunView:
    """One browser tab looking at one run."""

    def __init__(self, run: Run, operator: bool) -> None:
        self.run = run
        self.operator = operator
        self.svc = session.services()
        self.cpu_limits, self.ram_limits = _limits(run)
        self.samples: list[dict[str, Any]] = []
        self.last_sample_ts = ""
        self.follower = LogFollower(
            self.svc.fanout, run.id, self.svc.run_service.log_path(run.id), history_lines=MAX_LINES
        )

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
        self.fields = ui.element("div").classes("w-full")
        self._build_log()
        self.artifacts = ArtifactsPanel(run.id)
        self._build_charts()
        self.render_state()

    def _build_log(self) -> None:
        with ui.card().classes("ff-card w-full"):
            with ui.row().classes("items-center w-full gap-3"):
                ui.label("Log").classes("text-lg font-bold")
                self.follow = ui.switch("Auto-scroll", value=True).props(tid("autoscroll"))
                self.follow.on_value_change(lambda _: self._apply_follow())
                ui.space()
                self.search_input = (
                    ui.input(placeholder="Search the whole log")
                    .props("dense outlined clearable")
                    .classes("w-64 max-sm:w-full")
                    .props(tid("log-search"))
                )
                self.search_input.on("keydown.enter", self.search)
                ui.button(icon="search", on_click=self.search).props("flat dense").props(
                    tid("log-search-go")
                )
            self.log = ui.log(max_lines=MAX_LINES).classes("ff-log ff-mono w-full h-[28rem]")
            self.log.props(tid("log"))
            ui.label(
                f"The viewer keeps the last {MAX_LINES} lines and shows at most "
                f"{int(LINES_PER_TICK / TICK_SECONDS)} lines/s; skipped ranges are marked and "
                "linked, and the full log is in the download."
            ).classes("text-xs text-grey-7")
            self.results = ui.column().classes("w-full gap-0").props(tid("search-results"))

    def _build_charts(self) -> None:
        with ui.card().classes("ff-card w-full"):
            with ui.row().classes("items-center gap-2"):
                ui.label("Resources").classes("text-lg font-bold")
                self.warn_box = ui.row().classes("gap-2").props(tid("limit-warnings"))
                self.no_samples = ui.label("No samples yet (runs shorter than a second have none)")
                self.no_samples.classes("text-sm text-grey-7")
            with ui.grid().classes("w-full grid-cols-1 md:grid-cols-2 gap-3"):
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
            _fields(run)

    async def reload(self) -> None:
        self.run = await asyncio.to_thread(self.svc.run_service.get, self.run.id)
        self.render_state()

    # -- live -----------------------------------------------------------------------------------

    async def start(self) -> None:
        samples = await asyncio.to_thread(
            lambda: list(read_metrics(self.svc.run_service.metrics_path(self.run.id)))
        )
        self._add_samples(samples)
        await self.artifacts.refresh()
        self.follower.start()
        self.timer = ui.timer(TICK_SECONDS, self.tick)

    async def stop(self) -> None:
        await self.follower.stop()

    def _add_samples(self, samples: list[dict[str, Any]]) -> None:
        new = [s for s in samples if str(s.get("timestamp", "")) > self.last_sample_ts]
        if not new:
            return
        self.samples.extend(new)
        self.no_samples.set_visibility(False)
        self.last_sample_ts = str(new[-1]["timestamp"])
        self.cpu_chart.options.clear()
        self.cpu_chart.options.update(self._cpu_options())
        self.ram_chart.options.clear()
        self.ram_chart.options.update(self._ram_options())
        self.cpu_chart.update()
        self.ram_chart.update()
        self._render_warnings()

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
        batch = self.follower.drain(LINES_PER_TICK)
        for item in batch.items:
            if isinstance(item, Gap):
                self._push_gap(item)
            else:
                stream = item.get("stream", "stdout")
                classes = {"stderr": "ff-stderr", "system": "ff-system"}.get(stream)
                self.log.push(item["line"], classes=classes)
        if batch.items:
            self._apply_follow()
        if batch.metrics:
            self._add_samples([{k: v for k, v in m.items() if k != "type"} for m in batch.metrics])
        if batch.status is not None and batch.status.get("progress") is not None:
            self.run.progress = int(batch.status["progress"])
            self.run.progress_text = batch.status.get("text")
            self.progress.set_value(self.run.progress / 100)
            self.progress_label.set_text(f"{self.run.progress}% {self.run.progress_text or ''}")
        if batch.status is not None and batch.status.get("status") != self.run.status:
            await self.reload()
        if batch.complete is not None:
            await self._settled()

    async def _settled(self) -> None:
        # The log is written before the database: wait briefly for the row to catch up.
        for _ in range(40):
            await self.reload()
            if RunStatus(self.run.status).is_terminal:
                break
            await asyncio.sleep(0.25)
        self.timer.deactivate()
        await self.artifacts.refresh()

    def _push_gap(self, gap: Gap) -> None:
        what = f"{gap.lines} lines" if gap.lines else "earlier lines"
        with self.log, ui.row().classes("ff-gap items-center gap-1").props(tid("log-gap")):
            ui.label(f"⋯ {what} not shown here (seq {gap.first_seq} to {gap.last_seq})")
            ui.link("open them", log_url(self.run.id, gap.first_seq, gap.last_seq), True)
        # Keep the viewer bounded: a marker counts as a line.
        while len(self.log.default_slot.children) > MAX_LINES:
            self.log.remove(0)

    def _apply_follow(self) -> None:
        # ui.log follows the bottom while the reader is there; the switch pins that on or off.
        flag = "true" if self.follow.value else "false"
        ui.run_javascript(
            f"(() => {{ const l = getElement({self.log.id}); if (l) l.shouldScroll = {flag}; }})()"
        )

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

    async def search(self) -> None:
        needle = (self.search_input.value or "").strip()
        self.results.clear()
        if not needle:
            return
        path = self.svc.run_service.log_path(self.run.id)
        hits, capped = await asyncio.to_thread(_search, path, needle)
        with self.results:
            more = " (first matches only)" if capped else ""
            ui.label(f"{len(hits)} matching lines for '{needle}'{more}").classes(
                "text-sm font-medium"
            )
            for seq, line in hits:
                with ui.row().classes("gap-2 text-xs ff-mono w-full no-wrap"):
                    ui.link(f"#{seq}", log_url(self.run.id, max(1, seq - 20), seq + 20), True)
                    ui.label(line).classes("break-all")


def _fields(run: Run) -> None:
    """Every field of the run in a responsive grid."""
    kind = FailureKind(run.failure_kind) if run.failure_kind else None
    rows: list[tuple[str, str]] = [
        ("Run ID", run.id),
        ("Pipeline", run.pipeline_name),
        (
            "Status",
            run.status
            + (
                " (cancel requested)"
                if run.cancel_requested and not RunStatus(run.status).is_terminal
                else ""
            ),
        ),
        ("Failure", f"{kind.value}: {FAILURE_MESSAGES[kind]}" if kind else "—"),
        ("Created", when(run.created_at)),
        ("Started", when(run.started_at)),
        ("Finished", when(run.finished_at)),
        ("Duration", duration(run.started_at, run.finished_at)),
        ("Exit code", "—" if run.exit_code is None else str(run.exit_code)),
        ("uv version", run.uv_version or "—"),
        ("Setup duration", f"{run.setup_duration:.2f}s" if run.setup_duration is not None else "—"),
        ("Trigger", run.trigger + (f" by {run.triggered_by}" if run.triggered_by else "")),
        ("Attempt", f"{run.attempt} of {run.max_attempts}"),
        ("Executor", run.executor + (f" on {run.worker}" if run.worker else "")),
        ("Process / container", f"pid {run.pid}" if run.pid else "—"),
        ("Health", "unhealthy (no output)" if kind is FailureKind.UNHEALTHY else "—"),
    ]
    with ui.card().classes("ff-card w-full"):
        with ui.grid().classes("w-full gap-x-6 gap-y-1 grid-cols-1 sm:grid-cols-2 lg:grid-cols-4"):
            for label, value in rows:
                with ui.column().classes("gap-0 min-w-0"):
                    ui.label(label).classes("text-xs text-grey-7 uppercase")
                    ui.label(value).classes("text-sm break-all").props(tid(f"field-{label}"))
        if run.error_message:
            ui.label(run.error_message).classes("text-sm break-all").style(f"color: {RED}").props(
                tid("field-error")
            )
        if run.parent_run_id:
            with ui.row().classes("text-sm gap-1"):
                ui.label("Retry of")
                ui.link(short_id(run.parent_run_id), f"/runs/{run.parent_run_id}")
        with ui.row().classes("w-full gap-6"):
            _mapping("Parameters", run.parameters)
            _mapping("Environment", run.env_vars)


def _mapping(title: str, values: dict[str, Any]) -> None:
    with ui.column().classes("gap-0 min-w-0"):
        ui.label(title).classes("text-xs text-grey-7 uppercase")
        if not values:
            ui.label("—").classes("text-sm")
        for key, value in values.items():
            ui.label(f"{key}={value}").classes("text-sm ff-mono break-all")


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
            view = RunView(run, session.can_operate(user))
            view.build()
        await view.start()
        ui.context.client.on_disconnect(view.stop)
