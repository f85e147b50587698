"""Scale-out: 100 trivial runs at once through DISPATCHER=celery with two workers.

The burst runs twice, with the workers' warm starts on (`auto`) and off, submitted by
BENCH_SENDERS concurrent clients. Next to it: plain Celery running the same script as a task
on two workers (the floor for this design: broker round trip + process start), and the
embedded dispatcher with the same number of slots. Prints total wall time and per-run
latency (accepted → finished), and where a run's time goes: the median of each stage, from
the timings the workers and the server log with FASTFLOW_LOG_TIMINGS=1, beside plain
Celery's own stages. Needs Redis (BENCH_REDIS_URL, default redis://127.0.0.1:6379/8).
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import redis

from bench.common import FASTFLOW, ROOT, BenchServer, bench_dir, ms
from fastflow.monitoring.timings import STAGES, parse_timings, stage_durations

TRIVIAL = 'print("hello from a trivial pipeline")\n'
LOUD = (
    "import os, sys\n"
    "for i in range(int(os.environ['LINES'])):\n"
    "    sys.stdout.write(f'line {i} of the benchmark, some payload to make it realistic\\n')\n"
)
LOUD_LINES = int(os.environ.get("BENCH_LOUD_LINES", "200000"))
RUNS = int(os.environ.get("BENCH_RUNS", "100"))
WORKERS, SLOTS = 2, 2  # two workers with two slots each; embedded gets the same four
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/8")
# A burst comes from many clients at once: this many POSTs in flight over a pooled client.
WARM = os.environ.get("BENCH_WARM", "auto,off").split(",")  # the workers' FASTFLOW_WARM_START
SENDERS = int(os.environ.get("BENCH_SENDERS", "8"))


def _latencies(runs: list[dict[str, Any]]) -> list[float]:
    return [
        (
            datetime.fromisoformat(r["finished_at"]) - datetime.fromisoformat(r["created_at"])
        ).total_seconds()
        for r in runs
    ]


def _burst(server: BenchServer) -> tuple[float, list[float], list[str]]:
    server.wait(server.start_run("trivial"))  # warm: environment and bundle cache
    t = time.perf_counter()
    with ThreadPoolExecutor(SENDERS) as pool:
        ids = list(pool.map(lambda _: server.start_run("trivial"), range(RUNS)))
    # Plain Celery's client sends in a millisecond; fastflow's runs go through its HTTP API.
    print(f"    ({RUNS} runs submitted over HTTP, {SENDERS} at a time, "
          f"in {time.perf_counter() - t:.2f} s)")  # fmt: skip
    runs = _wait_all(server, ids)
    total = time.perf_counter() - t
    assert all(r["status"] == "SUCCESS" for r in runs), [r["status"] for r in runs]
    return total, _latencies(runs), ids


def _wait_all(server: BenchServer, ids: list[str]) -> list[dict[str, Any]]:
    """Wait for every run of the burst with one light request per poll (how many are still
    active), as plain Celery's client waits on its results, not one request per run."""
    active = {"status": "PENDING,RUNNING", "limit": 1}
    while server.client.get("/api/runs", params=active).json()["total"]:
        time.sleep(0.02)
    found = server.client.get("/api/runs", params={"limit": 500}).json()["items"]
    by_id = {r["id"]: r for r in found}
    return [by_id[i] if i in by_id else server.wait(i) for i in ids]


def _stages(name: str, per_run: list[dict[str, float]], order: tuple[str, ...]) -> None:
    """The median seconds of each stage over the runs, in the order they happen."""
    parts = []
    for stage in order:
        values = [d[stage] for d in per_run if stage in d]
        if values:
            parts.append(f"{stage} {statistics.median(values) * 1000:.1f}/{max(values) * 1000:.0f}")
    print(f"    {name} stages, median/max ms: " + ", ".join(parts))


def _holds(marks: list[dict[str, float]]) -> None:
    """How long a run holds a worker slot (task start to the slot free again), and of that
    what comes after `complete` was handed to Redis (the task's own ending)."""
    held = [m["released"] - m["dequeued"] for m in marks if "released" in m]
    after = [m["released"] - m["recorded"] for m in marks if "released" in m and "recorded" in m]
    if held and after:
        print(f"    a run holds a worker slot, median/max ms: {statistics.median(held) * 1000:.1f}/"
              f"{max(held) * 1000:.0f}, of which after `recorded` "
              f"{statistics.median(after) * 1000:.1f}/{max(after) * 1000:.0f}")  # fmt: skip


def _report(name: str, total: float, latencies: list[float]) -> None:
    print(f"  {name:<22} total {total:6.2f} s ({total / RUNS * 1000:6.1f} ms/run)  "
          f"latency {ms(latencies)}  max {max(latencies) * 1000:7.1f}")  # fmt: skip


def _workers(
    cmds: list[list[str]], env: dict[str, str], tmp: Path
) -> list[subprocess.Popen[bytes]]:
    procs = []
    for i, cmd in enumerate(cmds):
        log = (tmp / f"worker{i}.log").open("wb")
        procs.append(subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                      start_new_session=True))  # fmt: skip
    for i in range(len(cmds)):
        deadline = time.monotonic() + 60
        while "ready." not in (tmp / f"worker{i}.log").read_text(errors="replace"):
            if time.monotonic() > deadline:
                raise RuntimeError((tmp / f"worker{i}.log").read_text())
            time.sleep(0.1)
    return procs


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        p.wait(timeout=60)


def _clear(prefix: str) -> None:
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    if keys:
        client.delete(*keys)


def bench_fastflow_celery(tmp: Path, warm: str, ingest: bool) -> None:
    """The burst with the workers' warm starts `warm` (auto: runs fork from a warm
    interpreter; off: every run starts its interpreter)."""
    prefix = f"ffbench-{uuid.uuid4().hex[:8]}"
    token = uuid.uuid4().hex
    common = {"REDIS_URL": REDIS_URL, "FASTFLOW_REDIS_PREFIX": prefix,
              "FASTFLOW_WORKER_TOKEN": token, "FASTFLOW_LOG_TIMINGS": "1",
              "FASTFLOW_WARM_START": warm}  # fmt: skip
    tmp = tmp / f"warm-{warm}"
    tmp.mkdir()
    server = BenchServer({"trivial": TRIVIAL, "loud": LOUD}, DISPATCHER="celery", **common)
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("FASTFLOW_")}, **common,
           "FASTFLOW_URL": server.url}  # fmt: skip
    cmds = []
    for i in range(WORKERS):
        wenv_dir = tmp / f"ff-worker{i}"
        cmds.append([FASTFLOW, "worker", f"--concurrency={SLOTS}"])
        wenv_dir.mkdir()
    procs = []
    try:
        for i, cmd in enumerate(cmds):
            wenv = {**env, "DATA_DIR": str(tmp / f"ff-worker{i}"), "FASTFLOW_WORKER_NAME": f"b{i}"}
            procs += _workers([cmd], wenv, tmp / f"ff-worker{i}")
        total, lat, ids = _burst(server)
        _report(f"fastflow, warm {warm}", total, lat)
        if ingest:
            _ingest(server, tmp)
        _stop(procs)
        procs = []
        logs = [(tmp / f"ff-worker{i}" / f"worker{0}.log") for i in range(WORKERS)]
        text = "\n".join(p.read_text(errors="replace") for p in logs)
        text += (server.tmp / "server.log").read_text(errors="replace")
        marks = parse_timings(text)
        per_run = [stage_durations(marks[i]) for i in ids if i in marks]
        _stages(f"fastflow, warm {warm},", per_run, STAGES)
        _holds([marks[i] for i in ids if i in marks])
    finally:
        _stop(procs)
        server.close()
        _clear(prefix)


def _ingest(server: BenchServer, tmp: Path) -> None:
    """The server's ingest with every slot printing at full speed: lines/s from the first
    run's start to the last one's end, beside the same scripts piped into `cat` at once."""
    slots = WORKERS * SLOTS
    script = tmp / "loud.py"
    script.write_text(LOUD)
    env = {**os.environ, "LINES": str(LOUD_LINES), "PYTHONUNBUFFERED": "1"}
    t = time.perf_counter()
    with open(os.devnull, "wb") as null:
        pipes = []
        for _ in range(slots):
            child = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, env=env)
            pipes.append((child, subprocess.Popen(["cat"], stdin=child.stdout, stdout=null)))
            assert child.stdout is not None
            child.stdout.close()
        for child, cat in pipes:
            child.wait()
            cat.wait()
    floor = slots * LOUD_LINES / (time.perf_counter() - t)
    params = {"LINES": LOUD_LINES, "PYTHONUNBUFFERED": "1"}
    ids = [server.start_run("loud", **params) for _ in range(slots)]
    runs = [server.wait(i, poll=0.05) for i in ids]
    assert all(r["status"] == "SUCCESS" for r in runs), [r["status"] for r in runs]
    first = min(datetime.fromisoformat(r["started_at"]) for r in runs)
    last = max(datetime.fromisoformat(r["finished_at"]) for r in runs)
    rate = slots * LOUD_LINES / (last - first).total_seconds()
    print(f"  ingest, {slots} runs x {LOUD_LINES:,} lines at once: {rate:,.0f} lines/s into the "
          f"server's logs (floor: the same scripts into cat, {floor:,.0f} lines/s)")  # fmt: skip


def bench_plain_celery(tmp: Path) -> None:
    prefix = f"plainbench-{uuid.uuid4().hex[:8]}:"
    script = tmp / "trivial.py"
    script.write_text(TRIVIAL)
    env = {**os.environ, "BENCH_REDIS_URL": REDIS_URL, "BENCH_PREFIX": prefix,
           "PYTHONPATH": str(ROOT)}  # fmt: skip
    celery_bin = str(Path(sys.executable).parent / "celery")
    cmds = [[celery_bin, "-A", "bench.plain_celery_app", "worker", "--pool=threads",
             f"--concurrency={SLOTS}", f"--hostname=plain{i}@%h", "--without-gossip",
             "--without-mingle", "--loglevel=INFO"] for i in range(WORKERS)]  # fmt: skip
    procs = _workers(cmds, env, tmp)
    os.environ["BENCH_PREFIX"] = prefix
    from bench.plain_celery_app import app, run_script

    app.conf.broker_transport_options = {"global_keyprefix": prefix}
    app.conf.result_backend_transport_options = {"global_keyprefix": prefix}
    try:
        run_script.delay(str(script)).get(timeout=60)
        t = time.perf_counter()
        sent = []
        for _ in range(RUNS):
            sent.append((time.time(), run_script.delay(str(script))))
        finished = [(at, r.get(timeout=300), time.time()) for at, r in sent]
        total = time.perf_counter() - t
        _report("plain celery (floor)", total, [done - at for at, (_, done), _ in finished])
        stages = [{"dequeued": begun - at, "script": done - begun}
                  for at, (begun, done), got in finished]  # fmt: skip
        _stages("plain celery", stages, ("dequeued", "script"))
    finally:
        _stop(procs)
        _clear(prefix)


def bench_embedded() -> None:
    server = BenchServer({"trivial": TRIVIAL}, MAX_CONCURRENT_RUNS=str(WORKERS * SLOTS))
    try:
        total, lat, _ids = _burst(server)
        _report("fastflow embedded", total, lat)
    finally:
        server.close()


def main() -> None:
    print(f"== celery: {RUNS} trivial runs at once, {WORKERS} workers x {SLOTS} slots")
    tmp = bench_dir("fastflow-celery-bench-")
    try:
        bench_plain_celery(tmp)
        for i, warm in enumerate(WARM):
            bench_fastflow_celery(tmp, warm, ingest=i == 0)
        if not os.environ.get("BENCH_SKIP_EMBEDDED"):  # to measure the Celery path alone
            bench_embedded()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
