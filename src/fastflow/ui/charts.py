"""ECharts options for a run's CPU and RAM over time, with soft (amber) and hard (red) limits.

Pure functions of the samples (the metrics file's format), so they are tested without a browser.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

AMBER = "#d97706"
RED = "#dc2626"
MAX_POINTS = 1500  # a chart of a day-long run stays light: older samples are thinned out


@dataclass(frozen=True)
class ChartLimits:
    soft: float | None
    hard: float | None


def thin(points: list[list[Any]], max_points: int = MAX_POINTS) -> list[list[Any]]:
    """Every k-th point so at most about `max_points` remain; the last point is always kept."""
    if len(points) <= max_points:
        return points
    step = -(-len(points) // max_points)
    out = points[::step]
    if out[-1] is not points[-1]:
        out.append(points[-1])
    return out


def nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value` (an axis top)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-9):
            return float(step * power)
    return float(10 * power)


def _limit_line(value: float, name: str, color: str) -> dict[str, Any]:
    return {
        "yAxis": value,
        "name": name,
        "lineStyle": {"color": color, "type": "dashed" if color == AMBER else "solid", "width": 2},
        "label": {"formatter": f"{name} {{c}}", "color": color, "position": "insideEndTop"},
    }


def chart_options(
    title: str, unit: str, points: list[list[Any]], limits: ChartLimits, color: str
) -> dict[str, Any]:
    """A line chart of [iso-timestamp, value] points with limit lines."""
    marks = []
    if limits.soft is not None:
        marks.append(_limit_line(limits.soft, "soft limit", AMBER))
    if limits.hard is not None:
        marks.append(_limit_line(limits.hard, "hard limit", RED))
    peak = max((p[1] for p in points), default=0.0)
    top = nice_max(max([peak, *(v for v in (limits.soft, limits.hard) if v is not None)]) * 1.05)
    return {
        "animation": False,
        "title": {"text": title, "left": 8, "top": 4, "textStyle": {"fontSize": 14}},
        "grid": {"left": 16, "right": 24, "top": 40, "bottom": 8, "containLabel": True},
        "tooltip": {"trigger": "axis"},
        # Labels never overlap: ECharts drops the ones that would, and a day-long run gets
        # hour marks rather than a crowd of seconds.
        "xAxis": {
            "type": "time",
            "splitNumber": 5,
            "axisLabel": {"hideOverlap": True, "fontSize": 11},
        },
        "yAxis": {
            "type": "value",
            "name": unit,
            "min": 0,
            "max": top,
            "interval": top / 5,  # a round top in five round steps: 0.2, 0.4, 0.5, 1, 2, …
            # Faint in both themes (ECharts' default grey glares on the dark one).
            "splitLine": {"lineStyle": {"color": "rgba(128, 128, 128, 0.25)"}},
            "axisLabel": {"hideOverlap": True, "fontSize": 11},
        },
        "series": [
            {
                "type": "line",
                "name": title,
                "showSymbol": False,
                "data": thin(points),
                "lineStyle": {"color": color},
                "itemStyle": {"color": color},
                "areaStyle": {"opacity": 0.08},
                "markLine": {"symbol": "none", "silent": True, "data": marks},
            }
        ],
    }


@dataclass
class Warnings:
    """What the samples say about the limits (for the badges above the charts)."""

    soft_exceeded: bool = False
    hard_reached: bool = False
    throttled: bool = False


def assess(samples: list[dict[str, Any]], cpu: ChartLimits, ram: ChartLimits) -> Warnings:
    """Soft limit exceeded; hard limit reached (>= 98 %); CPU pinned at its hard limit."""
    w = Warnings()
    for s in samples:
        if s.get("soft_limit_exceeded"):
            w.soft_exceeded = True
        if ram.hard and s.get("ram_mb", 0) >= 0.98 * ram.hard:
            w.hard_reached = True
        if cpu.hard and s.get("cpu_percent", 0) >= 0.98 * cpu.hard:
            w.hard_reached = True
    recent = samples[-5:]
    if cpu.hard and len(recent) == 5:
        w.throttled = all(s.get("cpu_percent", 0) >= 0.9 * cpu.hard for s in recent)
    return w
