"""Runs: every run in a table with filters (pipeline, status, time range), sort by date and
server-side paging — each page is one indexed query, so 100,000 runs stay fast.

The filters, page and sort live in the URL (`/runs?pipeline=etl&status=FAILED&page=2`), so a
view can be shared or bookmarked; the table follows new runs live, with progress, duration
(ticking while a run is live) and relative times ("2 min ago", exact on hover); above it, a
chart of the recent matching runs' durations by start time, coloured by status.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from nicegui import ui
from nicegui.events import GenericEventArguments

from fastflow.models import RunStatus
from fastflow.records import Run, RunFilter
from fastflow.ui import clock, session
from fastflow.ui.format import STATUS_COLORS, duration, short_id, when
from fastflow.ui.layout import frame, tid
from fastflow.ui.runs_chart import CHART_RUNS, runs_chart_options
from fastflow.ui.runs_table import COLUMNS, SLOTS

PAGE_SIZE = 25
PAGE_SIZES = (10, 25, 50, 100)
LIVE_SECONDS = 3.0
_SORTABLE = {"created_at", "started_at", "finished_at", "pipeline_name", "status"}


def row(run: Run) -> dict[str, Any]:
    live = run.started_at is not None and run.finished_at is None
    return {
        "id": run.id,
        "short": short_id(run.id),
        "pipeline_name": run.pipeline_name,
        "status": run.status,
        "color": STATUS_COLORS.get(run.status, "grey-7"),
        "progress": 100 if run.status == RunStatus.SUCCESS else run.progress,
        "ptext": run.progress_text or "",
        "created": when(run.created_at) + " UTC",
        "created_ts": clock.epoch(run.created_at),
        "ago": clock.ago(run.created_at),
        "duration": duration(run.started_at, run.finished_at),
        "live_since": clock.epoch(run.started_at) if live else None,
        "trigger": run.trigger,
        "attempt": f"{run.attempt}/{run.max_attempts}",
    }


def day(text: str | None, end: bool = False) -> datetime | None:
    """'2024-05-01' → that day's start in UTC (the next day's start for an end bound)."""
    if not text:
        return None
    try:
        value = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return value + timedelta(days=1) if end else value


def _int(text: str | None, default: int, allowed: tuple[int, ...] | None = None) -> int:
    try:
        value = int(text or "")
    except ValueError:
        return default
    if allowed is not None and value not in allowed:
        return default
    return max(1, value)


def query_string(
    pipeline: str | None,
    statuses: list[str],
    since: str | None,
    until: str | None,
    page: int,
    per_page: int,
    sort: str,
    descending: bool,
) -> str:
    """The URL query of a view: only what differs from the defaults."""
    q: dict[str, str] = {}
    if pipeline:
        q["pipeline"] = pipeline
    if statuses:
        q["status"] = ",".join(statuses)
    if since:
        q["since"] = since
    if until:
        q["until"] = until
    if page > 1:
        q["page"] = str(page)
    if per_page != PAGE_SIZE:
        q["per_page"] = str(per_page)
    if sort != "created_at":
        q["sort"] = sort
    if not descending:
        q["order"] = "asc"
    return urlencode(q)


def register() -> None:
    @ui.page("/runs")
    async def runs_page(
        pipeline: str | None = None,
        status: str | None = None,
        since: str | None = None,
        until: str | None = None,
        page: str | None = None,
        per_page: str | None = None,
        sort: str | None = None,
        order: str | None = None,
    ) -> None:
        names = sorted(await asyncio.to_thread(lambda: list(session.services().catalog.scan())))
        chosen = [s for s in (status or "").split(",") if s in RunStatus.__members__]
        with frame("Runs", [("Runs", None)]):
            clock.install()
            with ui.row().classes("items-end gap-3 w-full"):
                pipe = (
                    ui.select(
                        [*names, *([pipeline] if pipeline and pipeline not in names else [])],
                        label="Pipeline",
                        value=pipeline or None,
                        clearable=True,
                    )
                    .props("outlined dense")
                    .classes("w-56 max-sm:w-full")
                    .props(tid("filter-pipeline"))
                )
                statuses = (
                    ui.select(
                        [s.value for s in RunStatus], label="Status", multiple=True, value=chosen
                    )
                    .props("outlined dense use-chips")
                    .classes("w-72 max-sm:w-full")
                    .props(tid("filter-status"))
                )
                start = ui.input("From", value=since if day(since) else None)
                start.props("outlined dense type=date").classes("w-40").props(tid("filter-since"))
                end = ui.input("To", value=until if day(until) else None)
                end.props("outlined dense type=date").classes("w-40").props(tid("filter-until"))
                ui.button("Clear", icon="clear_all", on_click=lambda: _clear()).props("flat")
                ui.space()
                live = ui.switch("Live", value=True).props(tid("runs-live"))
            with ui.card().classes("ff-card w-full p-2").props(tid("runs-chart-card")):
                chart = ui.echart(runs_chart_options([])).classes("w-full h-56")
                chart.props(tid("runs-chart"))
                chart.on_point_click(lambda e: ui.navigate.to(f"/runs/{e.data[2]}"))
            sort_by = sort if sort in _SORTABLE else "created_at"
            table = (
                ui.table(
                    columns=COLUMNS,
                    rows=[],
                    row_key="id",
                    pagination={
                        "rowsPerPage": _int(per_page, PAGE_SIZE, PAGE_SIZES),
                        "page": _int(page, 1),
                        "sortBy": sort_by,
                        "descending": order != "asc",
                        "rowsNumber": 0,
                    },
                )
                .classes("w-full")
                .props(f"flat bordered :rows-per-page-options={list(PAGE_SIZES)}")
            )
            table.props(tid("runs-table"))
            for name, template in SLOTS.items():
                table.add_slot(name, template)

        def current_filter() -> RunFilter:
            return RunFilter(
                pipeline=pipe.value or None,
                statuses=list(statuses.value or []),
                since=day(start.value),
                until=day(end.value, end=True),
            )

        busy = asyncio.Lock()
        shown_qs = [""]  # the query string the browser's address bar has

        async def load(
            pagination: dict[str, Any] | None = None, quiet: bool = False, first: bool = False
        ) -> None:
            if quiet and busy.locked():
                return
            async with busy:
                await _load(pagination, quiet, first)

        async def _load(pagination: dict[str, Any] | None, quiet: bool, first: bool) -> None:
            pag = {**table.pagination, **(pagination or {})}
            size = int(pag.get("rowsPerPage") or PAGE_SIZE)
            number = max(1, int(pag.get("page") or 1))
            key = str(pag.get("sortBy") or "")
            key = key if key in _SORTABLE else "created_at"
            descending = bool(pag.get("descending", True))
            flt = current_filter()
            if not quiet:
                table.props("loading")
            runs = session.services().runs
            items, total = await asyncio.to_thread(
                runs.search, flt, limit=size, offset=(number - 1) * size, sort=key,
                descending=descending,
            )  # fmt: skip
            recent, _ = await asyncio.to_thread(runs.search, flt, limit=CHART_RUNS)
            table.props(remove="loading")
            table.rows = [row(r) for r in items]
            table.pagination = {**pag, "page": number, "sortBy": key, "rowsNumber": total}
            table.update()
            chart.options.clear()
            chart.options.update(runs_chart_options(recent))
            chart.update()
            qs = query_string(
                pipe.value, list(statuses.value or []), start.value, end.value, number, size,
                key, descending,
            )  # fmt: skip
            if not first and qs != shown_qs[0]:
                ui.navigate.history.replace(f"/runs?{qs}" if qs else "/runs")
            shown_qs[0] = qs

        async def on_request(e: GenericEventArguments) -> None:
            await load(e.args["pagination"])

        async def filters_changed() -> None:
            await load({"page": 1})

        async def tick() -> None:
            if live.value:
                await load(quiet=True)

        def _clear() -> None:
            for el in (pipe, start, end):
                el.set_value(None)
            statuses.set_value([])

        table.on("request", on_request)
        for el in (pipe, statuses, start, end):
            el.on_value_change(filters_changed)
        await load(first=True)
        ui.timer(LIVE_SECONDS, tick)
