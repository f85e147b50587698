"""RunEventStream over a real log file and the real in-process fan-out."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from fastflow.events.connections import StreamRegistry, TooManyStreamsError
from fastflow.events.memory_fanout import MemoryFanout
from fastflow.events.pages import LogPages
from fastflow.events.recorder import RunRecorder
from fastflow.events.stream import Batch, Gap, RunEventStream, StreamItem
from fastflow.executors.capture import _utf8_boundary


class Clock:
    """A clock the test moves by hand, so the rate limit is exact without timing."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def collect(stream: RunEventStream) -> list[StreamItem]:
    return [item async for item in stream.items()]


def seqs(items: list[StreamItem]) -> list[int]:
    return [e["seq"] for i in items if isinstance(i, Batch) for e in i.events]


async def subscribed(fanout: MemoryFanout) -> None:
    for _ in range(1000):
        if fanout.subscriber_counts():
            return
        await asyncio.sleep(0)
    raise AssertionError("the stream never subscribed")


def write_lines(rec: RunRecorder, start: int, count: int) -> None:
    rec.log_lines("stdout", [(f"line {i}", False) for i in range(start, start + count)])


async def test_finished_run_replays_from_any_seq(tmp_path: Path) -> None:
    fanout = MemoryFanout()
    rec = RunRecorder("r1", tmp_path / "r1.log", fanout)
    write_lines(rec, 0, 100)
    rec.complete(status="SUCCESS", success=True, exit_code=0)
    rec.close()
    full = await collect(
        RunEventStream("r1", rec.log_path, fanout, pages=LogPages(4, page_events=7))
    )
    assert seqs(full) == list(range(1, 102))
    tail = await collect(RunEventStream("r1", rec.log_path, fanout, since=60))
    assert seqs(tail) == list(range(61, 102))
    assert fanout.subscriber_counts() == {}


async def test_late_joiner_gets_past_and_live_exactly_once(tmp_path: Path) -> None:
    fanout = MemoryFanout()
    rec = RunRecorder("r2", tmp_path / "r2.log", fanout)
    write_lines(rec, 0, 50)
    stream = RunEventStream("r2", rec.log_path, fanout, pages=LogPages(4, page_events=10))
    task = asyncio.create_task(collect(stream))
    await subscribed(fanout)
    for start in range(50, 250, 20):
        write_lines(rec, start, 20)
        await asyncio.sleep(0)
    rec.complete(status="SUCCESS", success=True)
    rec.close()
    items = await asyncio.wait_for(task, 10)
    assert seqs(items) == list(range(1, 252))


async def test_overflowing_viewer_catches_up_from_the_file(tmp_path: Path) -> None:
    fanout = MemoryFanout(max_buffered_events=5)
    rec = RunRecorder("r3", tmp_path / "r3.log", fanout)
    stream = RunEventStream("r3", rec.log_path, fanout)
    got: list[int] = []

    async def slow_reader() -> None:
        async for item in stream.items():
            if isinstance(item, Batch):
                got.extend(e["seq"] for e in item.events)
            await asyncio.sleep(0.001)

    task = asyncio.create_task(slow_reader())
    await subscribed(fanout)
    for start in range(0, 500, 3):
        write_lines(rec, start, 3)  # far more than the 5-event buffer between reads
    rec.complete(status="SUCCESS", success=True)
    rec.close()
    await asyncio.wait_for(task, 10)
    assert got == list(range(1, 503))  # 501 lines and complete, each once


async def test_rate_limit_announces_exact_gaps(tmp_path: Path) -> None:
    fanout = MemoryFanout()
    rec = RunRecorder("r4", tmp_path / "r4.log", fanout)
    write_lines(rec, 0, 30)  # seq 1-30
    rec.status("RUNNING", progress=50)  # seq 31
    write_lines(rec, 30, 30)  # seq 32-61
    rec.complete(status="SUCCESS", success=True)  # seq 62
    rec.close()
    clock = Clock()
    items = await collect(RunEventStream("r4", rec.log_path, fanout, rate_limit=10, clock=clock))
    gaps = [i for i in items if isinstance(i, Gap)]
    assert [(g.from_seq, g.to_seq, g.count) for g in gaps] == [(11, 30, 20), (32, 61, 30)]
    assert seqs(items) == [*range(1, 11), 31, 62]
    # Every seq is either delivered or inside a gap: nothing lost silently.
    covered = set(seqs(items)) | {s for g in gaps for s in range(g.from_seq, g.to_seq + 1)}
    assert covered == set(range(1, 63))
    # A second later the bucket is full again.
    clock.now += 1.0
    stream = RunEventStream("r4", rec.log_path, fanout, since=0, rate_limit=10, clock=clock)
    assert stream._limiter is not None and stream._limiter.take()


async def test_a_run_that_ends_without_complete_ends_the_stream(tmp_path: Path) -> None:
    fanout = MemoryFanout()
    rec = RunRecorder("r5", tmp_path / "r5.log", fanout)
    write_lines(rec, 0, 3)
    rec.close()

    async def finished() -> bool:
        return True

    stream = RunEventStream("r5", rec.log_path, fanout, tick=0.01, run_finished=finished)
    items = await asyncio.wait_for(collect(stream), 10)
    assert seqs(items) == [1, 2, 3]
    assert None in items  # the quiet tick that triggered the check


def test_registry_caps_connections_per_user() -> None:
    reg = StreamRegistry(max_per_user=2)
    a = reg.open("run", "ann", "sse")
    b = reg.open("run", "ann", "websocket")
    other = reg.open("run", "bob", "sse")
    with pytest.raises(TooManyStreamsError, match="limit is 2"):
        reg.open("run2", "ann", "sse")
    assert reg.runs() == [{"run_id": "run", "clients": 3, "sse": 2, "websocket": 1}]
    a.release()
    a.release()  # idempotent
    reg.open("run2", "ann", "sse")
    b.release()
    other.release()
    assert [r["run_id"] for r in reg.runs()] == ["run2"]


def test_utf8_boundary_when_the_buffer_is_exactly_the_limit() -> None:
    assert _utf8_boundary(b"x" * 8, 8) == 8
    assert _utf8_boundary("aaaaaaé".encode() + b"zz", 7) == 6


def test_tokens_are_redacted_from_access_logs() -> None:
    import logging

    from fastflow.api.log_redaction import TokenRedactingFilter

    record = logging.LogRecord(
        "uvicorn.access",
        20,
        "",
        0,
        '%s - "%s %s"',
        ("1.2.3.4", "GET", "/x?since=3&token=abc.def"),
        None,
    )
    TokenRedactingFilter().filter(record)
    assert record.getMessage() == '1.2.3.4 - "GET /x?since=3&token=***"'
