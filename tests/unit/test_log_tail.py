"""LogTail: relays whole events another process appends, woken by a pipe or by polling."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import orjson

from fastflow.events.log_tail import LogTail


def _line(seq: int) -> bytes:
    return orjson.dumps({"type": "log", "seq": seq, "line": f"line {seq}"}) + b"\n"


def test_pipe_woken_tail_relays_each_event_once_even_when_lines_are_torn(
    tmp_path: Path,
) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(_line(1))  # written before the tail starts: not relayed
    relayed: list[dict[str, Any]] = []
    messages: list[dict[str, Any]] = []

    async def scenario() -> None:
        wake_r, wake_w = os.pipe()
        tail = LogTail(
            log,
            log.stat().st_size,
            relayed.extend,
            wake_fd=wake_r,
            on_message=messages.append,
        )
        done = tail.start()
        os.write(wake_w, b'{"pid": 42}\n')
        with open(log, "ab") as f:  # noqa: ASYNC230  (the writer side of the test)
            for seq in range(2, 200):
                data = _line(seq)
                # Half a line now, the rest with the next wake-up.
                f.write(data[:7])
                f.flush()
                os.write(wake_w, b"\n")
                await asyncio.sleep(0)
                f.write(data[7:])
                f.flush()
                os.write(wake_w, b"\n")
        os.close(wake_w)  # the writer exited
        await asyncio.wait_for(done, 10)

    asyncio.run(scenario())
    assert [e["seq"] for e in relayed] == list(range(2, 200))
    assert messages == [{"pid": 42}]


def test_polling_tail_reads_what_is_left_when_stopped(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_bytes(b"")
    relayed: list[dict[str, Any]] = []

    async def scenario() -> None:
        tail = LogTail(log, 0, relayed.extend, poll_interval=0.01)
        done = tail.start()
        with open(log, "ab") as f:  # noqa: ASYNC230  (the writer side of the test)
            for seq in range(1, 50):
                f.write(_line(seq))
                f.flush()
                if seq % 10 == 0:
                    await asyncio.sleep(0.02)
        tail.stop()
        await asyncio.wait_for(done, 10)

    asyncio.run(scenario())
    assert [e["seq"] for e in relayed] == list(range(1, 50))
