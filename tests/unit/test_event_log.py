from __future__ import annotations

from pathlib import Path

from fastflow.events.log import (
    RunLogWriter,
    format_log_text,
    last_seq,
    read_events,
    tail_log_lines,
)


def _write(path: Path, n: int, width: int = 40) -> None:
    w = RunLogWriter(path)
    for start in range(0, n, 500):
        w.append(
            [
                {"type": "log", "stream": "stdout", "line": f"{i:08d}" + "y" * (i % width)}
                for i in range(start, min(n, start + 500))
            ]
        )
    w.close()


def test_seq_is_dense_and_resumes_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    _write(path, 1000)
    assert last_seq(path) == 1000
    w = RunLogWriter(path)
    assert w.seq == 1000
    w.append([{"type": "status", "status": "RUNNING"}])
    w.close()
    seqs = [e["seq"] for e in read_events(path)]
    assert seqs == list(range(1, 1002))


def test_range_reads_at_every_position_of_a_large_log(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    _write(path, 50_000, width=300)
    for start in (1, 2, 4_999, 25_000, 49_999, 50_000):
        got = [e["seq"] for e in read_events(path, start, start + 2)]
        assert got == list(range(start, min(start + 2, 50_000) + 1))
    assert list(read_events(path, 50_001)) == []
    assert [e["seq"] for e in read_events(path, 10, limit=3)] == [10, 11, 12]


def test_a_torn_last_line_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    _write(path, 10)
    with path.open("ab") as f:
        f.write(b'{"type":"log","line":"half')  # a crash mid-write
    assert last_seq(path) == 10
    assert [e["seq"] for e in read_events(path)][-1] == 10
    w = RunLogWriter(path)
    assert w.seq == 10


def test_tail_and_text(tmp_path: Path) -> None:
    path = tmp_path / "r.log"
    w = RunLogWriter(path)
    w.append([{"type": "log", "line": "a"}, {"type": "status", "status": "RUNNING"}])
    w.append([{"type": "log", "line": "b", "partial": True}, {"type": "log", "line": "c"}])
    w.close()
    assert [e["line"] for e in tail_log_lines(path, 2)] == ["b", "c"]
    assert "".join(format_log_text(read_events(path))) == "a\nbc\n"
    assert tail_log_lines(tmp_path / "missing.log", 5) == []
