"""The UI's log follower: history then live, nothing lost or repeated, bounded, gaps marked."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fastflow.events.memory_fanout import MemoryFanout
from fastflow.events.recorder import RunRecorder
from fastflow.ui.charts import ChartLimits, assess, chart_options, thin
from fastflow.ui.log_follow import Drained, Gap, LogFollower
from fastflow.ui.login import safe_next


async def _drain_all(follower: LogFollower, per_tick: int = 10_000) -> list[object]:
    items: list[object] = []
    for _ in range(2000):
        batch: Drained = follower.drain(per_tick)
        items.extend(batch.items)
        if batch.complete is not None:
            return items
        await asyncio.sleep(0.005)
    raise AssertionError("the follower never saw the run complete")


async def test_history_then_live_each_line_once_in_order(tmp_path: Path) -> None:
    fanout = MemoryFanout()
    recorder = RunRecorder("r1", tmp_path / "r1.log", fanout)
    recorder.log_lines("stdout", [(f"past {i}", False) for i in range(50)])
    follower = LogFollower(fanout, "r1", tmp_path / "r1.log")
    follower.start()
    await asyncio.sleep(0.05)

    def produce() -> None:
        for i in range(20):
            recorder.log_lines("stdout", [(f"live {i}", False)])
        recorder.status("RUNNING", progress=50)
        recorder.complete(status="SUCCESS", success=True)

    await asyncio.to_thread(produce)
    items = await _drain_all(follower)
    lines = [e["line"] for e in items if isinstance(e, dict)]
    assert lines == [f"past {i}" for i in range(50)] + [f"live {i}" for i in range(20)]
    await follower.stop()


async def test_a_finished_run_shows_its_tail_and_marks_the_rest(tmp_path: Path) -> None:
    fanout = MemoryFanout()
    recorder = RunRecorder("r2", tmp_path / "r2.log", fanout)
    recorder.log_lines("stdout", [(f"l{i}", False) for i in range(5000)])
    recorder.complete(status="SUCCESS", success=True)
    follower = LogFollower(fanout, "r2", tmp_path / "r2.log", history_lines=100)
    follower.start()
    items = await _drain_all(follower)
    assert isinstance(items[0], Gap) and items[0].first_seq == 1
    lines = [e["line"] for e in items if isinstance(e, dict)]
    assert lines[-1] == "l4999" and len(lines) < 400
    assert items[0].last_seq + 1 == items[1]["seq"]  # the gap ends where the lines begin


async def test_a_flood_stays_bounded_and_every_dropped_line_is_in_a_gap(tmp_path: Path) -> None:
    fanout = MemoryFanout(max_buffered_events=5000)
    recorder = RunRecorder("r3", tmp_path / "r3.log", fanout)
    follower = LogFollower(fanout, "r3", tmp_path / "r3.log", max_pending=500)
    follower.start()
    await asyncio.sleep(0.05)

    def produce() -> None:
        for i in range(300):
            recorder.log_lines("stdout", [(f"n{i * 100 + j}", False) for j in range(100)])
        recorder.complete(status="SUCCESS", success=True)

    task = asyncio.create_task(asyncio.to_thread(produce))
    items: list[object] = []
    peak = 0
    while True:
        peak = max(peak, follower._pending_lines)
        batch = follower.drain(50)
        items.extend(batch.items)
        if batch.complete is not None:
            break
        await asyncio.sleep(0.002)
    await task
    assert peak <= 500
    seqs: list[int] = []
    for item in items:
        if isinstance(item, Gap):
            seqs.extend(range(item.first_seq, item.last_seq + 1))
        else:
            seqs.append(int(item["seq"]))  # type: ignore[index]
    # Shown lines and gap ranges together cover every line once, in order.
    assert seqs == list(range(1, 30_001))


def test_chart_options_carry_soft_and_hard_limit_lines() -> None:
    points = [[f"2024-01-01T00:00:{i:02d}+00:00", float(i)] for i in range(10)]
    opts = chart_options("CPU", "%", points, ChartLimits(soft=150.0, hard=200.0), "#000")
    marks = opts["series"][0]["markLine"]["data"]
    assert [(m["name"], m["yAxis"], m["lineStyle"]["color"]) for m in marks] == [
        ("soft limit", 150.0, "#d97706"),
        ("hard limit", 200.0, "#dc2626"),
    ]
    assert opts["yAxis"]["max"] >= 200
    assert len(thin([[i, i] for i in range(10_000)], 1000)) <= 1001


def test_assess_flags_soft_hard_and_throttling() -> None:
    cpu, ram = ChartLimits(None, 100.0), ChartLimits(200.0, 400.0)
    calm = [{"cpu_percent": 10, "ram_mb": 50, "soft_limit_exceeded": False}] * 5
    assert assess(calm, cpu, ram) == assess([], cpu, ram)
    hot = [{"cpu_percent": 99, "ram_mb": 395, "soft_limit_exceeded": True}] * 5
    w = assess(hot, cpu, ram)
    assert (w.soft_exceeded, w.hard_reached, w.throttled) == (True, True, True)


def test_login_only_redirects_to_local_paths() -> None:
    assert safe_next("/runs?pipeline=x") == "/runs?pipeline=x"
    for bad in (
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "",
        None,
    ):
        assert safe_next(bad) == "/"
