from __future__ import annotations

from pathlib import Path

from fastflow.events.log import read_events
from fastflow.events.recorder import RunRecorder
from fastflow.executors.capture import StreamCapture, parse_progress


def _capture(tmp_path: Path, chunks: list[bytes], max_line: int = 1024) -> list[dict]:  # type: ignore[type-arg]
    rec = RunRecorder("r", tmp_path / "r.log")
    cap = StreamCapture("stdout", rec, max_line)
    for chunk in chunks:
        cap.feed(chunk)
    cap.close()
    rec.close()
    return list(read_events(tmp_path / "r.log"))


def test_lines_split_across_chunks_are_joined(tmp_path: Path) -> None:
    events = _capture(tmp_path, [b"hel", b"lo\nwor", b"ld\r\n", b"tail"])
    assert [e["line"] for e in events] == ["hello", "world", "tail"]


def test_progress_markers_become_status_events(tmp_path: Path) -> None:
    events = _capture(tmp_path, [b"a\n::progress 45 Compiling\n::progress 250\nb\n"])
    assert [e["type"] for e in events] == ["log", "status", "status", "log"]
    assert (events[1]["progress"], events[1]["text"]) == (45, "Compiling")
    assert events[2]["progress"] == 100  # clamped
    assert parse_progress("::progress abc") is None


def test_long_lines_become_partial_fragments_without_splitting_utf8(tmp_path: Path) -> None:
    line = ("ä" * 1500).encode()  # 3000 bytes of 2-byte characters
    events = _capture(tmp_path, [line[:700], line[700:], b"\nnext\n"], max_line=1024)
    text = [e for e in events if e["line"] != "next"]
    assert all(e.get("partial") for e in text[:-1]) and not text[-1].get("partial")
    assert "".join(e["line"] for e in text) == "ä" * 1500
    assert events[-1]["line"] == "next"


def test_invalid_utf8_is_kept_visible(tmp_path: Path) -> None:
    events = _capture(tmp_path, [b"ok \xff\xfe\n"])
    assert events[0]["line"] == "ok \\xff\\xfe"


def test_a_line_exactly_at_the_limit(tmp_path: Path) -> None:
    events = _capture(tmp_path, [b"z" * 1024, b"\n", b"z" * 2048 + b"\n"], max_line=1024)
    assert "".join(e["line"] for e in events) == "z" * 3072
    assert [bool(e.get("partial")) for e in events][-1] is False
