"""Runs: every run in a table with filters (pipeline, status, time range), sort by date and
server-side paging — each page is one indexed query, so 100,000 runs stay fast."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from nicegui import ui
from nicegui.events import GenericEventArguments

from fastflow.models import RunStatus
from fastflow.records import Run, RunFilter
from fastflow.ui import session
from fastflow.ui.format import STATUS_COLORS, duration, short_id, when
from fastflow.ui.layout import frame, tid

PAGE_SIZE = 25
_SORTABLE = {"created_at", "started_at", "finished_at", "pipeline_name", "status"}

COLUMNS: list[dict[str, Any]] = [
    {"name": "id", "label": "Run", "field": "id", "align": "left"},
    {
        "name": "pipeline_name",
        "label": "Pipeline",
        "field": "pipeline_name",
        "align": "left",
        "sortable": True,
    },
    {"name": "status", "label": "Status", "field": "status", "align": "left", "sortable": True},
    {
        "name": "created_at",
        "label": "Created (UTC)",
        "field": "created",
        "align": "left",
        "sortable": True,
    },
    {"name": "duration", "label": "Duration", "field": "duration", "align": "right"},
    {"name": "trigger", "label": "Trigger", "field": "trigger", "align": "left"},
    {"name": "attempt", "label": "Attempt", "field": "attempt", "align": "right"},
]

_STATUS_SLOT = (
    '<q-td :props="props"><q-badge :color="props.row.color" text-color="white" '
    ':label="props.value" /></q-td>'
)
_ID_SLOT = (
    '<q-td :props="props"><a class="text-primary ff-mono" :href="\'/runs/\' + props.row.id">'
    "{{ props.row.short }}</a></q-td>"
)


def _row(run: Run) -> dict[str, Any]:
    return {
        "id": run.id,
        "short": short_id(run.id),
        "pipeline_name": run.pipeline_name,
        "status": run.status,
        "color": STATUS_COLORS.get(run.status, "grey-7"),
        "created": when(run.created_at),
        "duration": duration(run.started_at, run.finished_at),
        "trigger": run.trigger,
        "attempt": f"{run.attempt}/{run.max_attempts}",
    }


def _day(text: str | None, end: bool = False) -> datetime | None:
    """'2024-05-01' → that day's start in UTC (the next day's start for an end bound)."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        return None
    return day + timedelta(days=1) if end else day


def register() -> None:
    @ui.page("/runs")
    async def runs_page(pipeline: str | None = None, status: str | None = None) -> None:
        names = sorted(await asyncio.to_thread(lambda: list(session.services().catalog.scan())))
        with frame("Runs", [("Runs", None)]):
            with ui.row().classes("items-end gap-3 w-full"):
                pipe = (
                    ui.select(
                        [*names, *([pipeline] if pipeline and pipeline not in names else [])],
                        label="Pipeline",
                        value=pipeline,
                        clearable=True,
                    )
                    .props("outlined dense")
                    .classes("w-56")
                    .props(tid("filter-pipeline"))
                )
                statuses = (
                    ui.select(
                        [s.value for s in RunStatus],
                        label="Status",
                        multiple=True,
                        value=[s for s in (status or "").split(",") if s in RunStatus.__members__],
                    )
                    .props("outlined dense use-chips")
                    .classes("w-72")
                    .props(tid("filter-status"))
                )
                since = ui.input("From").props("outlined dense type=date").classes("w-40")
                since.props(tid("filter-since"))
                until = ui.input("To").props("outlined dense type=date").classes("w-40")
                until.props(tid("filter-until"))
                ui.button("Clear", icon="clear_all", on_click=lambda: _clear()).props("flat")
            table = (
                ui.table(
                    columns=COLUMNS,
                    rows=[],
                    row_key="id",
                    pagination={
                        "rowsPerPage": PAGE_SIZE,
                        "page": 1,
                        "sortBy": "created_at",
                        "descending": True,
                        "rowsNumber": 0,
                    },
                )
                .classes("w-full")
                .props("flat bordered :rows-per-page-options=[10,25,50,100]")
            )
            table.props(tid("runs-table"))
            table.add_slot("body-cell-status", _STATUS_SLOT)
            table.add_slot("body-cell-id", _ID_SLOT)

        async def load(pagination: dict[str, Any] | None = None) -> None:
            pag = {**table.pagination, **(pagination or {})}
            per_page = int(pag.get("rowsPerPage") or PAGE_SIZE)
            page = max(1, int(pag.get("page") or 1))
            sort = str(pag.get("sortBy") or "")
            sort = sort if sort in _SORTABLE else "created_at"
            flt = RunFilter(
                pipeline=pipe.value or None,
                statuses=list(statuses.value or []),
                since=_day(since.value),
                until=_day(until.value, end=True),
            )
            table.props("loading")
            items, total = await asyncio.to_thread(
                session.services().runs.search,
                flt,
                limit=per_page,
                offset=(page - 1) * per_page,
                sort=sort,
                descending=bool(pag.get("descending", True)),
            )
            table.props(remove="loading")
            table.rows = [_row(r) for r in items]
            table.pagination = {**pag, "page": page, "sortBy": sort, "rowsNumber": total}
            table.update()

        async def on_request(e: GenericEventArguments) -> None:
            await load(e.args["pagination"])

        async def filters_changed() -> None:
            await load({"page": 1})

        def _clear() -> None:
            for el in (pipe, since, until):
                el.set_value(None)
            statuses.set_value([])

        table.on("request", on_request)
        for el in (pipe, statuses, since, until):
            el.on_value_change(filters_changed)
        await load()
