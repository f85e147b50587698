"""What the log viewer is sent: colours as segments, escapes gone, levels, sections, ranges."""

from __future__ import annotations

from pathlib import Path

from fastflow.events.memory_fanout import MemoryFanout
from fastflow.events.recorder import RunRecorder
from fastflow.ui.ansi import level, plain, segments
from fastflow.ui.log_lines import entry
from fastflow.ui.log_view import load_range
from fastflow.ui.run_log import last_progress, search_log


def test_sgr_colours_become_segments_and_reset() -> None:
    line = "\x1b[1;31mERROR\x1b[0m plain \x1b[32mgreen\x1b[39m back"
    assert segments(line) == [
        ["ERROR", "b fg1"],
        [" plain ", ""],
        ["green", "fg2"],
        [" back", ""],
    ]
    # Bright, background, 256-colour and true colour.
    assert segments("\x1b[91;44mx") == [["x", "fg9 bg4"]]
    assert segments("\x1b[38;5;208mo\x1b[48;2;1;2;3mp") == [
        ["o", "#ff8700"],
        ["p", "#ff8700 bg#010203"],
    ]
    assert segments("\x1b[38;5;3my") == [["y", "fg3"]]
    assert segments("\x1b[1mb\x1b[22mn") == [["b", "b"], ["n", ""]]


def test_every_other_escape_and_control_is_dropped() -> None:
    hostile = (
        "a\x1b[2Jb\x1b[1Ac\x1b]0;title\x07d\x1b]52;c;ZXZpbA==\x1b\\e\rf\x08g\x1bPdcs\x1b\\h\x9bi"
    )
    text = "".join(t for t, _ in segments(hostile))
    assert text == "abcdefghi"
    assert "\x1b" not in text
    assert plain("\x1b[31mred\x1b[0m \x1b[Kok") == "red ok"
    assert segments("tabs\tstay") == [["tabs\tstay", ""]]
    # Unterminated sequences do not swallow what follows in a later line.
    assert plain("x\x1b[") == "x"


def test_levels_are_read_near_the_start_of_a_line() -> None:
    assert level("ERROR root: boom") == "error"
    assert level("2024-01-01 12:00:00,000 WARNING app: careful") == "warning"
    assert level("[INFO] started") == "info"
    assert level('ts=1 level=debug msg="x"') == "debug"
    assert level("CRITICAL disk full") == "critical"
    assert level("Traceback (most recent call last):") == "error"
    assert level("an error in lower case is prose") is None
    assert level("INFORMATION is not a level") is None
    assert level("x" * 200 + " ERROR far away") is None


def test_entries_carry_stream_level_and_markers() -> None:
    e = entry({"type": "log", "seq": 7, "ts": 1.5, "stream": "stderr", "line": "\x1b[31mERROR x"})
    assert e == {"n": 7, "t": 1500, "s": "e", "g": [["ERROR x", "fg1"]], "v": "error"}
    assert entry(
        {"type": "log", "seq": 8, "ts": 2, "stream": "stdout", "line": "::group::Build"}
    ) == {
        "n": 8,
        "t": 2000,
        "open": "Build",
    }
    assert entry(
        {"type": "log", "seq": 9, "ts": 3, "stream": "stdout", "line": "::endgroup::"}
    ) == {
        "n": 9,
        "t": 3000,
        "close": 1,
    }
    # A marker's name is plain text; an empty one still opens a section.
    assert (
        entry({"type": "log", "seq": 1, "ts": 0, "line": "::group::\x1b[1m<b>x</b>"})["open"]
        == "<b>x</b>"
    )  # type: ignore[index]
    assert entry({"type": "log", "seq": 1, "ts": 0, "line": "::group::"})["open"] == "section"  # type: ignore[index]
    assert entry({"type": "metrics", "seq": 2, "ts": 0}) is None
    err = entry({"type": "error", "seq": 3, "ts": 0, "error": "lost"})
    assert err is not None and err["s"] == "y" and err["g"] == [["error: lost", ""]]


def _log(tmp_path: Path, lines: int) -> Path:
    recorder = RunRecorder("r", tmp_path / "r.log", MemoryFanout())
    for i in range(1, lines + 1):
        recorder.log_lines("stdout", [(f"line {i}", False)])
        if i % 10 == 0:
            recorder.status("RUNNING", progress=i * 100 // lines, text=f"at {i}")
    recorder.complete(status="SUCCESS", success=True)
    return tmp_path / "r.log"


def test_load_range_takes_the_lines_next_to_what_is_shown(tmp_path: Path) -> None:
    path = _log(tmp_path, 300)
    last = max(int(e["n"]) for e in load_range(path, 1, 10_000, limit=10_000)[0])
    lines, before, after = load_range(path, 1, last, limit=50)
    texts = [e["g"][0][0] for e in lines]
    assert texts == [f"line {i}" for i in range(251, 301)]
    assert before is not None and before[0] == 1 and before[1] == lines[0]["n"] - 1
    assert after is None
    # Around a line: a window centred on it, gaps left on both sides.
    target = next(
        e["n"] for e in load_range(path, 1, last, limit=10_000)[0] if e["g"][0][0] == "line 150"
    )
    lines, before, after = load_range(path, 1, last, around=target, limit=40)
    texts = [e["g"][0][0] for e in lines]
    assert "line 150" in texts and len(texts) == 40
    assert texts == [
        f"line {i}" for i in range(int(texts[0].split()[1]), int(texts[-1].split()[1]) + 1)
    ]
    assert before is not None and after is not None
    assert before[1] + 1 == lines[0]["n"] and after[0] - 1 == lines[-1]["n"]


def test_search_and_last_progress_read_the_file(tmp_path: Path) -> None:
    path = _log(tmp_path, 95)
    hits, capped = search_log(path, "LINE 9")
    assert [t for _, t in hits] == ["line 9", *[f"line {i}" for i in range(90, 96)]]
    assert not capped
    report = last_progress(path)
    assert report is not None and report["text"] == "at 90"
