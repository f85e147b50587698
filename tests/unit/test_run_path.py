"""The supervisor's hot path: output readers that stop pausing once the run has exited, and
a run's process tree read from its own /proc children lists."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import psutil
import pytest

from fastflow.events.threads import start_thread
from fastflow.executors import pipe_reader
from fastflow.sandbox.contain import descendants


def _drain(done: threading.Event | None, monkeypatch: pytest.MonkeyPatch) -> tuple[bytes, int]:
    """Two short writes, then the writer closes; what was read and how many pauses."""
    pauses = []
    monkeypatch.setattr(pipe_reader.time, "sleep", pauses.append)
    r, w = os.pipe()
    got: list[bytes] = []
    closed = threading.Event()
    reader = pipe_reader.drain_in_thread(r, "test", got.append, closed.set, done=done)
    os.write(w, b"one\n")
    os.write(w, b"two\n")
    os.close(w)
    reader.join(30)
    assert closed.is_set()
    return b"".join(got), len(pauses)


def test_a_reader_pauses_after_short_reads_to_take_lines_in_batches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data, pauses = _drain(None, monkeypatch)
    assert data == b"one\ntwo\n"
    assert pauses >= 1


def test_a_reader_stops_pausing_once_the_run_has_exited(monkeypatch: pytest.MonkeyPatch) -> None:
    exited = threading.Event()
    exited.set()
    data, pauses = _drain(exited, monkeypatch)
    assert data == b"one\ntwo\n"  # everything the pipe held, still read to its end
    assert pauses == 0


def test_descendants_are_the_tree_below_a_process() -> None:
    script = "sleep 60 & (sleep 60 & sleep 60) & sleep 60"
    proc = subprocess.Popen(["bash", "-c", script], start_new_session=True)
    try:
        tree = psutil.Process(proc.pid)
        deadline = time.monotonic() + 30
        while len(tree.children(recursive=True)) < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        below = descendants(proc.pid)
        if below is None:
            pytest.skip("this kernel does not list a thread's children in /proc")
        assert sorted(below) == sorted(p.pid for p in tree.children(recursive=True))
        assert descendants(2**22 + 1) == []  # no such process: nothing below it
    finally:
        os.killpg(proc.pid, 9)
        proc.wait()


def test_a_thread_started_without_waiting_joins_like_a_thread() -> None:
    go = threading.Event()
    ran: list[str] = []
    started = start_thread(lambda: (go.wait(30), ran.append("ran")), "fastflow-test")
    assert started.is_alive()  # returned before the target could finish
    go.set()
    started.join(30)
    assert not started.is_alive()
    assert ran == ["ran"]


def test_a_thread_that_fails_still_counts_as_ended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.unraisablehook", lambda _args: None)  # its traceback, not ours

    def fail() -> None:
        raise RuntimeError("boom")

    started = start_thread(fail, "fastflow-test")
    started.join(30)
    assert not started.is_alive()
