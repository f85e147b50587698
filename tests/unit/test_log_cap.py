"""LOG_MAX_SIZE_MB: the log stops growing with one marker; what ends the run is still written."""

from __future__ import annotations

from pathlib import Path

from fastflow.events.log import read_events
from fastflow.events.recorder import RunRecorder


def test_log_stops_growing_past_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "run.log"
    rec = RunRecorder("r1", path, max_log_bytes=10_000)
    for i in range(2_000):
        rec.log_lines("stdout", [(f"line {i} " + "x" * 50, False)])
    rec.status("RUNNING", progress=50)
    rec.error("the pipeline failed")
    rec.complete(status="FAILED", success=False)
    rec.close()

    events = list(read_events(path))
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))  # no holes
    assert path.stat().st_size < 10_000 + 500
    markers = [e for e in events if e.get("log_capped")]
    assert len(markers) == 1
    assert "LOG_MAX_SIZE_MB" in markers[0]["line"]
    assert [e["type"] for e in events[-2:]] == ["error", "complete"]
    assert not any(e["type"] == "status" for e in events)  # progress past the cap is dropped
    lines = [e for e in events if e["type"] == "log" and not e.get("log_capped")]
    assert lines[-1]["line"].startswith(f"line {len(lines) - 1} ")
    assert rec.dropped_events == 2_000 - len(lines) + 1


def test_no_limit_keeps_everything(tmp_path: Path) -> None:
    rec = RunRecorder("r1", tmp_path / "run.log")
    for i in range(500):
        rec.log_lines("stdout", [(f"line {i}", False)])
    rec.close()
    assert len(list(read_events(tmp_path / "run.log"))) == 500
