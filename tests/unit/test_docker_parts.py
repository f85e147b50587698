"""Pure parts of the docker executor: CPU formula, timestamps, frame positions, exit codes;
and the line splitter's edge case at exactly `max_line_bytes`."""

from __future__ import annotations

from pathlib import Path

from fastflow.events.recorder import RunRecorder
from fastflow.executors.capture import StreamCapture
from fastflow.executors.docker_errors import classify_exit
from fastflow.executors.docker_logs import Resume, frames_of, resume_points
from fastflow.executors.docker_stats import (
    Reading,
    StatsTracker,
    from_docker_stats,
    from_libpod_stats,
    parse_ts_ns,
)
from fastflow.executors.process_metrics import Limits
from fastflow.models import FailureKind


def test_timestamps_with_and_without_fraction() -> None:
    assert parse_ts_ns("1970-01-01T00:00:01Z") == 1_000_000_000
    assert parse_ts_ns("1970-01-01T00:00:01.5Z") == 1_500_000_000
    assert parse_ts_ns("1970-01-01T00:00:01.000000007Z") == 1_000_000_007


def test_cpu_percent_is_cpu_time_over_wall_time() -> None:
    tracker = StatsTracker(Limits(cpu_hard=0.5, cpu_soft=0.2, mem_hard_bytes=64 * 2**20))
    assert tracker.sample(Reading(0, 0, 10 * 2**20, None)) is None
    samples = [
        tracker.sample(Reading(i * 10**9, i * 5 * 10**8, 10 * 2**20, None)) for i in (1, 2, 3)
    ]
    assert [s["cpu_percent"] for s in samples if s] == [50.0, 50.0, 50.0]
    last = samples[-1]
    assert last is not None
    assert (last["ram_mb"], last["ram_limit_mb"], last["cpu_limit"]) == (10.0, 64.0, 0.5)
    assert last["cpu_soft_limit_exceeded"] and last["cpu_throttled"]


def test_engine_stats_formats() -> None:
    docker_stats = {
        "read": "2024-01-01T00:00:02.5Z",
        "cpu_stats": {"cpu_usage": {"total_usage": 7}},
        "memory_stats": {"usage": 300, "limit": 1000, "stats": {"inactive_file": 100}},
    }
    got = from_docker_stats(docker_stats)
    assert got is not None and (got.cpu_ns, got.mem_bytes, got.mem_limit_bytes) == (7, 200, 1000)
    assert from_docker_stats({"read": "0001-01-01T00:00:00Z", "cpu_stats": {}}) is None
    pod = {"Stats": [{"SystemNano": 5, "CPUNano": 3, "MemUsage": 9, "MemLimit": 10}]}
    assert from_libpod_stats(pod) == Reading(5, 3, 9, 10)
    assert from_libpod_stats({"Stats": [{"SystemNano": 0, "CPUNano": 0}]}) is None


def test_frames_after_a_resume_point_only() -> None:
    raw = [b"1970-01-01T00:00:01Z a\n", b"1970-01-01T00:00:01Z b\n", b"1970-01-01T00:00:02Z c\n"]
    every = list(frames_of(raw, "stdout", None))
    assert [f.position for f in every] == [(10**9, 0), (10**9, 1), (2 * 10**9, 0)]
    rest = list(frames_of(raw, "stdout", Resume((10**9, 0), False)))
    assert [f.data for f in rest] == [b"b\n", b"c\n"]


def test_resume_points_from_the_log_file(tmp_path: Path) -> None:
    recorder = RunRecorder("r", tmp_path / "r.log")
    out = StreamCapture("stdout", recorder, 1024)
    err = StreamCapture("stderr", recorder, 1024)
    out.feed(b"one\n", {"cpos": [5, 0]})
    err.feed(b"oops\n", {"cpos": [5, 0]})
    out.feed(b"::progress 50\n", {"cpos": [6, 0]})
    recorder.system("not from the container")
    recorder.close()
    points = resume_points(tmp_path / "r.log", ("stdout", "stderr"))
    assert points == {"stdout": Resume((6, 0), False), "stderr": Resume((5, 0), False)}


def test_exit_classification() -> None:
    assert classify_exit(0, False) == (None, None)
    assert classify_exit(137, True)[0] is FailureKind.OOM
    assert classify_exit(137, False)[0] is FailureKind.OOM
    assert classify_exit(125, False)[0] is FailureKind.ENGINE_ERROR
    assert classify_exit(126, False)[0] is FailureKind.NOT_EXECUTABLE
    assert classify_exit(127, False)[0] is FailureKind.COMMAND_NOT_FOUND
    assert classify_exit(3, False) == (FailureKind.EXIT_NONZERO, "exited with code 3")


def test_a_chunk_ending_exactly_at_the_line_limit(tmp_path: Path) -> None:
    recorder = RunRecorder("r", tmp_path / "r.log")
    capture = StreamCapture("stdout", recorder, 1024)
    capture.feed(b"x" * 1024)  # used to raise IndexError looking past the end
    capture.feed(b"y\n")
    recorder.close()
    lines = (tmp_path / "r.log").read_text().splitlines()
    assert len(lines) == 2 and '"partial":true' in lines[0]
