"""LogPages: page-aligned reads of a run log, complete pages parsed once and shared."""

from __future__ import annotations

from pathlib import Path

from fastflow.events.log import RunLogWriter
from fastflow.events.pages import LogPages


def _log(tmp_path: Path, count: int) -> Path:
    writer = RunLogWriter(tmp_path / "run.log")
    writer.append([{"type": "log", "line": f"line {i}"} for i in range(count)])
    writer.close()
    return writer.path


def test_complete_pages_are_shared_and_slices_follow_the_cursor(tmp_path: Path) -> None:
    path = _log(tmp_path, 25)
    pages = LogPages(max_pages=8, page_events=10)
    first, at_end = pages.read(path, 1)
    again, _ = pages.read(path, 1)
    assert [e["seq"] for e in first] == list(range(1, 11)) and not at_end
    assert again is first  # one parse, one list: the encoder can share its encoding too
    middle, at_end = pages.read(path, 14)
    assert [e["seq"] for e in middle] == list(range(14, 21)) and not at_end
    capped, _ = pages.read(path, 11, until=12)
    assert [e["seq"] for e in capped] == [11, 12]
    tail, at_end = pages.read(path, 21)
    assert [e["seq"] for e in tail] == list(range(21, 26)) and at_end


def test_a_page_still_being_written_is_not_cached(tmp_path: Path) -> None:
    path = _log(tmp_path, 5)
    pages = LogPages(max_pages=8, page_events=10)
    partial, at_end = pages.read(path, 1)
    assert len(partial) == 5 and at_end
    writer = RunLogWriter(path)
    writer.append([{"type": "log", "line": "more"} for _ in range(5)])
    writer.close()
    whole, at_end = pages.read(path, 1)
    assert [e["seq"] for e in whole] == list(range(1, 11)) and not at_end
