"""Warm starts: `python main.py` by hand, fastflow cold, fastflow warm, side by side.

- trivial pipeline: POST until the client's SSE stream says `complete` (goal: warm at most
  half the by-hand time of `python main.py`), and the server's own view of the same runs
  (the run's row created to its end recorded), without the client's HTTP round trips;
- heavy-import pipeline (`import sympy`, preloaded by the warm interpreter): until the
  pipeline's first line reaches the client (goal: warm at least 10x sooner than by hand);
- the memory (RSS) each warm interpreter holds, as /metrics reports it;
- where the server's time goes for the trivial runs: the median of each stage the server logs
  with FASTFLOW_LOG_TIMINGS (claimed, log opened, environment, prepared, supervisor forked,
  run started, exited, settled).

By hand means the pipeline environment's own interpreter (the one fastflow built), started
from a shell: the floor a run cannot go below when it starts a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from datetime import datetime
from pathlib import Path

from bench.common import BenchServer, ms, timed
from fastflow.monitoring.timings import LOCAL_STAGES, parse_timings, stage_durations

TRIVIAL = 'print("hello from a trivial pipeline")\n'
HEAVY = 'import sympy\nprint("first line", flush=True)\nprint(sympy.sqrt(8))\n'
HEAVY_LIBRARY = os.environ.get("BENCH_HEAVY_REQUIREMENT", "sympy")
REPEAT = int(os.environ.get("BENCH_REPEAT", "20"))
HEAVY_REPEAT = int(os.environ.get("BENCH_HEAVY_REPEAT", "5"))


def _add_heavy(server: BenchServer) -> None:
    folder = server.tmp / "pipelines" / "heavy"
    folder.mkdir()
    (folder / "main.py").write_text(HEAVY)
    (folder / "requirements.txt").write_text(HEAVY_LIBRARY + "\n")
    (folder / "pipeline.json").write_text(json.dumps({"preload": ["sympy"]}))


def _first_line(server: BenchServer, pipeline: str, marker: str) -> float:
    """POST until the client reads `marker` in the run's live stream."""
    t = time.perf_counter()
    run_id = server.start_run(pipeline)
    with server.client.stream("GET", f"/api/runs/{run_id}/events") as r:
        for line in r.iter_lines():
            if line.startswith("data:") and marker in line:
                seen = time.perf_counter() - t
                break
        else:
            raise RuntimeError(f"run {run_id} never printed {marker!r}")
    server.wait(run_id)
    return seen


def _by_hand_first_line(python: str, script: Path) -> float:
    t = time.perf_counter()
    proc = subprocess.Popen([python, str(script)], stdout=subprocess.PIPE)
    assert proc.stdout is not None
    proc.stdout.readline()
    seen = time.perf_counter() - t
    proc.wait()
    return seen


def _env_python(server: BenchServer, pipeline: str) -> str:
    """The interpreter of the environment fastflow built for `pipeline`."""
    envs = sorted((server.tmp / "data" / "envs").glob("*/bin/python"))
    for python in envs:
        done = subprocess.run([str(python), "-c", "import sympy"], capture_output=True, check=False)
        if (done.returncode == 0) == (pipeline == "heavy"):
            return str(python)
    raise RuntimeError(f"no environment found for {pipeline}")


def _complete(
    server: BenchServer, pipeline: str, figures: dict[str, list[float]], mode: str
) -> str:
    """POST until the client's stream says `complete` (the status read after it is not
    timed), and the same run as the server saw it: from its row's creation to its end.
    Returns the run's id."""
    t = time.perf_counter()
    run_id = server.start_run(pipeline)
    with server.client.stream("GET", f"/api/runs/{run_id}/events") as r:
        for line in r.iter_lines():
            if line.startswith("event: complete"):
                break
    figures.setdefault(f"{mode} trivial", []).append(time.perf_counter() - t)
    run = server.wait(run_id)
    assert run["status"] == "SUCCESS", run
    server_side = _stamp(run["finished_at"]) - _stamp(run["created_at"])
    figures.setdefault(f"{mode} server", []).append(server_side)
    return run_id


def _stamp(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _warm_memory(server: BenchServer) -> list[str]:
    text = server.client.get("/metrics").text
    return [line for line in text.splitlines() if line.startswith("fastflow_warm_process_rss")]


def _start(mode: str) -> BenchServer:
    server = BenchServer({"trivial": TRIVIAL}, FASTFLOW_WARM_START=mode, FASTFLOW_LOG_TIMINGS="1")
    _add_heavy(server)
    for pipeline in ("trivial", "heavy"):  # builds the environments (and warms) once
        run = server.wait(server.start_run(pipeline))
        assert run["status"] == "SUCCESS", run
    return server


def main() -> None:
    print(f"== warm starts: trivial x{REPEAT}, heavy import ({HEAVY_LIBRARY}) x{HEAVY_REPEAT}")
    print("  (by hand, cold and warm measured in turn, so a busy machine slows all three alike)")
    cold, warm = _start("off"), _start("auto")
    try:
        pipelines = cold.tmp / "pipelines"
        # By hand starts the warm server's environments: run as root, it may write bytecode
        # there, never into the environments the cold runs use, so the cold figures are
        # those of the environments as fastflow built them.
        trivial_py, heavy_py = _env_python(warm, "trivial"), _env_python(warm, "heavy")
        heavy_main = pipelines / "heavy" / "main.py"
        _by_hand_first_line(
            heavy_py, heavy_main
        )  # its first start (writing bytecode) is not counted
        figures: dict[str, list[float]] = {}
        ids: dict[str, list[str]] = {"cold": [], "warm": []}
        for _ in range(REPEAT):
            hand = timed([trivial_py, str(pipelines / "trivial.py")], 1)
            figures.setdefault("hand trivial", []).extend(hand)
            ids["cold"].append(_complete(cold, "trivial", figures, "cold"))
            ids["warm"].append(_complete(warm, "trivial", figures, "warm"))
        for _ in range(HEAVY_REPEAT):
            figures.setdefault("hand heavy", []).append(_by_hand_first_line(heavy_py, heavy_main))
            figures.setdefault("cold heavy", []).append(_first_line(cold, "heavy", "first line"))
            figures.setdefault("warm heavy", []).append(_first_line(warm, "heavy", "first line"))
        for line in _warm_memory(warm):
            size = float(line.rsplit(" ", 1)[1]) / 1024 / 1024
            print(f"  memory held by a warm interpreter: {line.split(' ')[0]} = {size:.1f} MB")
        stages = {"cold": _stages(cold, ids["cold"]), "warm": _stages(warm, ids["warm"])}
    finally:
        cold.close()
        warm.close()
    med = statistics.median
    print("  trivial pipeline, until complete:")
    print(f"    by hand (python main.py)  {ms(figures['hand trivial'])}")
    print(f"    fastflow cold             {ms(figures['cold trivial'])}")
    print(f"    fastflow warm             {ms(figures['warm trivial'])}")
    print(f"      server side (created to finished): cold {ms(figures['cold server'])}")
    print(f"                                         warm {ms(figures['warm server'])}")
    ratio = med(figures["warm trivial"]) / med(figures["hand trivial"])
    print(f"    warm / by hand = {ratio:.2f} (goal: at most 0.5)")
    print(f"  heavy import ({HEAVY_LIBRARY}), until the first line:")
    print(f"    by hand (python main.py)  {ms(figures['hand heavy'])}")
    print(f"    fastflow cold             {ms(figures['cold heavy'])}")
    print(f"    fastflow warm             {ms(figures['warm heavy'])}")
    sooner = med(figures["hand heavy"]) / med(figures["warm heavy"])
    print(f"    warm is {sooner:.1f}x sooner than by hand (goal: at least 10x)")
    print("  trivial pipeline, server side, median ms of each stage (cold / warm):")
    for stage in LOCAL_STAGES[1:]:
        cold_ms, warm_ms = stages["cold"].get(stage), stages["warm"].get(stage)
        if cold_ms is not None and warm_ms is not None:
            print(f"    {stage:12s} {cold_ms:7.2f} / {warm_ms:7.2f}")


def _stages(server: BenchServer, run_ids: list[str]) -> dict[str, float]:
    """Median milliseconds of each stage of `run_ids`, from the server's TIMINGS lines."""
    marks = parse_timings((server.tmp / "server.log").read_text(errors="replace"))
    per_run = [stage_durations(marks[i], LOCAL_STAGES) for i in run_ids if i in marks]
    return {
        stage: statistics.median(d[stage] for d in per_run) * 1000
        for stage in LOCAL_STAGES[1:]
        if per_run and all(stage in d for d in per_run)
    }


if __name__ == "__main__":
    main()
