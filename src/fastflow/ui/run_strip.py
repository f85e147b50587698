"""A strip of coloured squares, one per run (newest first), each linking to its run: a
pipeline's or a schedule's recent history at a glance."""

from __future__ import annotations

from collections.abc import Sequence

from nicegui import ui

from fastflow.records import Run
from fastflow.ui.format import STATUS_COLORS, when
from fastflow.ui.layout import tid

STRIP_RUNS = 20


def run_strip(runs: Sequence[Run], testid: str = "run-strip") -> None:
    with ui.element("div").classes("ff-strip").props(tid(testid)).mark(testid):
        for run in runs:
            color = STATUS_COLORS.get(run.status, "grey-7")
            label = f"{run.status} · {when(run.created_at)}"
            ui.link(target=f"/runs/{run.id}").classes(f"bg-{color}").props(
                f'aria-label="{label}"'
            ).tooltip(label)
