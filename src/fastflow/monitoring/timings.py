"""Where a run's time goes: wall-clock marks of its stages, logged once per run.

With FASTFLOW_LOG_TIMINGS=1 the worker and the server each log one line per run,
``TIMINGS {"run_id": ..., "side": "worker", "marks": {"dequeued": 1733.1, ...}}``, the marks
being epoch seconds of the moment each stage ended. The Celery bench joins both sides' lines
by run id and prints the median of each stage; off, marking costs one attribute test.
"""

from __future__ import annotations

import logging
import time

import orjson

log = logging.getLogger("fastflow.timings")

# The stages of a remote run, in order: each mark is when that stage ended.
WORKER_STAGES = (
    "dequeued",  # the worker's task started (from the server's send)
    "claimed",
    "bundle",
    "secrets",
    "environment",
    "supervisor",  # the run's process is up
    "first_line",
    "exited",
    "recorded",  # `complete` handed to Redis
)
SERVER_STAGES = ("ingested", "settled")  # `complete` in the log file; final state in the DB
STAGES = ("sent", *WORKER_STAGES, *SERVER_STAGES)

# The stages of a run the server executes itself (side "local").
LOCAL_STAGES = (
    "created",  # the run's row was written (its created_at)
    "claimed",  # the dispatcher took it: its execution begins
    "opened",  # its log is open and its cancel flag read again
    "environment",  # its environment is there (built, or found built)
    "prepared",  # its folders, sandbox and warm interpreter are ready
    "supervisor",  # its supervisor process was started (forked)
    "started",  # the run's process is up (the supervisor said so)
    "exited",  # the execution ended: the supervisor exited and its log was read
    "settled",  # `complete` in the log, the final state in the database, listeners told
)


class StageClock:
    """The marks of one run on one side; a stage marked twice keeps its first time."""

    __slots__ = ("enabled", "marks", "run_id", "side")

    def __init__(self, run_id: str, side: str, enabled: bool) -> None:
        self.run_id = run_id
        self.side = side
        self.enabled = enabled
        self.marks: dict[str, float] = {}

    def mark(self, stage: str, at: float | None = None) -> None:
        if self.enabled and stage not in self.marks:
            self.marks[stage] = time.time() if at is None else at

    def log(self) -> None:
        if self.enabled and self.marks:
            entry = {"run_id": self.run_id, "side": self.side, "marks": self.marks}
            log.info("TIMINGS %s", orjson.dumps(entry).decode())


def parse_timings(text: str) -> dict[str, dict[str, float]]:
    """The marks of every run found in log `text` (both sides merged), by run id."""
    runs: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        at = line.find("TIMINGS {")
        if at < 0:
            continue
        try:
            entry = orjson.loads(line[at + len("TIMINGS ") :])
        except orjson.JSONDecodeError:
            continue
        runs.setdefault(str(entry["run_id"]), {}).update(entry["marks"])
    return runs


def stage_durations(marks: dict[str, float], stages: tuple[str, ...] = STAGES) -> dict[str, float]:
    """Seconds spent in each stage: from the previous stage that was marked to this one."""
    out: dict[str, float] = {}
    previous: float | None = None
    for stage in stages:
        at = marks.get(stage)
        if at is None:
            continue
        if previous is not None:
            out[stage] = at - previous
        previous = at
    return out
