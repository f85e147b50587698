"""The log file's fast paths write and pick exactly what the general path would."""

from __future__ import annotations

import random
from pathlib import Path

import orjson

from fastflow.events.log import RunLogWriter, fresh_lines, read_events


def test_lines_written_without_events_are_byte_for_byte_the_events_path(tmp_path: Path) -> None:
    rng = random.Random(7)
    alphabet = 'ab",\\\t\n\r☃\x00\x01 {}:'
    texts = [
        "",
        'a","b',
        "back\\",
        '\\"',
        "\udcff".encode("utf-8", "surrogatepass").decode("utf-8", "backslashreplace"),
    ]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))) for _ in range(500)]
    slow, fast = RunLogWriter(tmp_path / "slow.log"), RunLogWriter(tmp_path / "fast.log")
    slow.append([{"type": "status", "ts": 1.0, "status": "RUNNING"}])
    fast.append([{"type": "status", "ts": 1.0, "status": "RUNNING"}])
    slow.append([{"type": "log", "ts": 2.5, "stream": "stdout", "line": t} for t in texts])
    written = fast.append_log_lines(2.5, "stdout", texts)
    slow.close()
    fast.close()
    data = (tmp_path / "fast.log").read_bytes()
    assert data == (tmp_path / "slow.log").read_bytes()
    assert written == len(data) - len(data.split(b"\n", 1)[0]) - 1
    assert (fast.seq, fast.bytes_written) == (slow.seq, slow.bytes_written)
    assert (fast.seq, fast.bytes_written) == (1 + len(texts), len(data))
    assert [e["line"] for e in read_events(tmp_path / "fast.log", 2)] == texts


def _lines(first: int, last: int) -> list[bytes]:
    return [
        orjson.dumps({"type": "log", "line": f"l{i}", "seq": i}) for i in range(first, last + 1)
    ]


def test_fresh_lines_reads_only_the_ends_and_refuses_what_is_not_numbered_one_by_one() -> None:
    lines = _lines(5, 9)
    assert fresh_lines(lines, 0) == (lines, 9)  # a gap before the batch is the sender's
    assert fresh_lines(lines, 6) == (lines[2:], 9)  # a replay: only what is new
    assert fresh_lines(lines, 9) == ([], 9)
    assert fresh_lines([], 3) == ([], 3)
    assert fresh_lines(lines[:2] + lines[3:], 0) is None  # a hole inside
    assert fresh_lines([b"not json", *lines], 0) is None
    assert fresh_lines([*lines, b'{"type":"log"}'], 0) is None  # no seq
