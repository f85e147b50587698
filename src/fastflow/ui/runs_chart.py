"""The runs page's chart: recent runs as points, duration by start time, coloured by status.

A pure function of the runs (tested without a browser); a point carries its run id, so a click
opens the run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastflow.models import RunStatus
from fastflow.records import Run
from fastflow.ui.charts import nice_max

CHART_RUNS = 500  # the most recent runs matching the filters
# Hex equivalents of the status badges' colours (format.STATUS_COLORS).
STATUS_HEX: dict[str, str] = {
    RunStatus.PENDING: "#616161",
    RunStatus.RUNNING: "#1976d2",
    RunStatus.SUCCESS: "#2e7d32",
    RunStatus.FAILED: "#c62828",
    RunStatus.CANCELLED: "#e65100",
    RunStatus.TIMED_OUT: "#bf360c",
}


# ECharts renders a tooltip as HTML: the pipeline name is escaped before it goes in.
_TOOLTIP = (
    "p => { const e = (s) => String(s).replace(/[&<>\"']/g, (c) => '&#' + c.charCodeAt(0) + ';');"
    " const t = new Date(p.data[0]).toISOString().slice(0, 19).replace('T', ' ');"
    " return e(p.data[3]) + ' · ' + e(p.seriesName) + '<br>' + p.data[1] + ' s · started '"
    " + t + ' UTC'; }"
)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def runs_chart_options(runs: list[Run], now: datetime | None = None) -> dict[str, Any]:
    """Scatter series per status: [start epoch ms, duration s, run id, pipeline]."""
    now = now or datetime.now(UTC)
    by_status: dict[str, list[list[Any]]] = {s.value: [] for s in RunStatus}
    peak = 0.0
    for run in runs:
        if run.started_at is None:
            continue
        start = _aware(run.started_at)
        end = _aware(run.finished_at) if run.finished_at else now
        seconds = round(max(0.0, (end - start).total_seconds()), 2)
        peak = max(peak, seconds)
        by_status.setdefault(run.status, []).append(
            [int(start.timestamp() * 1000), seconds, run.id, run.pipeline_name]
        )
    series = [
        {
            "type": "scatter",
            "name": status,
            "data": points,
            "symbolSize": 8,
            "itemStyle": {"color": STATUS_HEX.get(status, "#616161"), "opacity": 0.85},
        }
        for status, points in by_status.items()
        if points
    ]
    top = nice_max(peak * 1.05) if peak else 1.0
    return {
        "animation": False,
        "grid": {"left": 16, "right": 24, "top": 36, "bottom": 8, "containLabel": True},
        "legend": {"top": 4, "right": 8, "itemWidth": 10, "itemHeight": 10},
        "tooltip": {"trigger": "item", ":formatter": _TOOLTIP},
        "xAxis": {
            "type": "time",
            "splitNumber": 5,
            "axisLabel": {"hideOverlap": True, "fontSize": 11},
        },
        "yAxis": {
            "type": "value",
            "name": "duration (s)",
            "min": 0,
            "max": top,
            "interval": top / 5,
            "splitLine": {"lineStyle": {"color": "rgba(128, 128, 128, 0.25)"}},
            "axisLabel": {"hideOverlap": True, "fontSize": 11},
        },
        "series": series,
    }
