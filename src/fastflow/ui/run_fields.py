"""The run page's fields card: every field of the run, its parameters exactly as the run got
them (the environment strings), and its live health."""

from __future__ import annotations

from typing import Any

from nicegui import ui

from fastflow.models import FAILURE_MESSAGES, FailureKind, RunStatus
from fastflow.records import Run
from fastflow.ui.charts import RED
from fastflow.ui.clock import epoch
from fastflow.ui.format import duration, short_id, when
from fastflow.ui.layout import tid


def _rows(run: Run) -> list[tuple[str, str]]:
    kind = FailureKind(run.failure_kind) if run.failure_kind else None
    cancel = run.cancel_requested and not RunStatus(run.status).is_terminal
    return [
        ("Run ID", run.id),
        ("Pipeline", run.pipeline_name),
        ("Status", run.status + (" (cancel requested)" if cancel else "")),
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
    ]


def fields(run: Run) -> None:
    """Every field of the run in a responsive grid; a live run's duration ticks in the browser."""
    live = run.started_at is not None and run.finished_at is None
    with ui.card().classes("ff-card w-full"):
        with ui.grid().classes("w-full gap-x-6 gap-y-1 grid-cols-1 sm:grid-cols-2 lg:grid-cols-4"):
            for label, value in _rows(run):
                with ui.column().classes("gap-0 min-w-0"):
                    ui.label(label).classes("text-xs text-grey-7 uppercase")
                    cell = ui.label(value).classes("text-sm break-all").props(tid(f"field-{label}"))
                    if label == "Duration" and live:
                        cell.props(f'data-ff-since="{epoch(run.started_at)}"')
        if run.error_message:
            ui.label(run.error_message).classes("text-sm break-all").style(f"color: {RED}").props(
                tid("field-error")
            )
        if run.parent_run_id:
            with ui.row().classes("text-sm gap-1"):
                ui.label("Retry of")
                ui.link(short_id(run.parent_run_id), f"/runs/{run.parent_run_id}")
        with ui.row().classes("w-full gap-6"):
            mapping("Parameters", run.parameters, "parameters")
            mapping("Environment", run.env_vars, "environment")


def mapping(title: str, values: dict[str, Any], name: str) -> None:
    """NAME = value rows, values verbatim (spaces kept; an empty string shown as "")."""
    with ui.column().classes("gap-0 min-w-0 max-w-full").props(tid(name)):
        ui.label(title).classes("text-xs text-grey-7 uppercase")
        if not values:
            ui.label("—").classes("text-sm")
        for key, value in values.items():
            with ui.row().classes("gap-2 no-wrap text-sm ff-mono max-w-full items-start"):
                ui.label(key).classes("font-bold shrink-0")
                ui.label("=").classes("text-grey-7")
                text = str(value)
                ui.label(text if text else '""').classes("whitespace-pre-wrap break-all")


class HealthLine:
    """'Last output 3.2s ago · container 1a2b3c4d5e6f': ticks in the browser while live."""

    def __init__(self) -> None:
        self.row = ui.row().classes("items-center gap-1 text-sm text-grey-8").props(tid("health"))
        with self.row:
            ui.icon("monitor_heart").classes("text-grey-7")
            ui.label("Last output")
            self.since = ui.label("—").props(tid("since-output"))
            ui.label("ago")
            self.container = ui.label("").classes("ff-mono").props(tid("container-id"))
        self._shown = 0.0

    def output_at(self, ts: float | None) -> None:
        if ts and ts - self._shown >= 0.5:
            self._shown = ts
            self.since.props(f'data-ff-since="{ts}"')

    def health(self, report: dict[str, Any] | None) -> None:
        if not report:
            return
        cid = report.get("container_id")
        if cid:
            self.container.set_text(f"· container {str(cid)[:12]}")
        if self._shown == 0.0 and report.get("seconds_since_output") is not None:
            self.since.set_text(f"{float(report['seconds_since_output']):.1f}s")

    def hide(self) -> None:
        self.row.set_visibility(False)
