"""Live-event benchmark: capture overhead, fan-out throughput, latency, server memory.

    uv run python bench/events_bench.py [--lines 1000000] [--sse 20] [--ws 20]

1. The pipeline (prints N lines, one write per line: PYTHONUNBUFFERED=1) alone, writing to
   /dev/null, and piped into `cat` by hand — the floor of any pipe capture: its own wall time,
   and the whole command's (interpreter start to exit).
2. The same pipeline as a fastflow run with nobody watching: the run's duration as users see
   it (started → finished) against the whole `| cat` command.
3. The same run with SSE and WebSocket clients attached (server in its own process): the
   pipeline's wall time as it measures it against the same in the `cat` pipe, lines/s per
   client, the server's peak RSS (sampled every 100 ms).
3. Latency from a line's print to its arrival, with one SSE and one WebSocket client, on a run
   printing a timestamped line every 10 ms.
Clients run in a separate process; everything shares this machine's cores, so the figures
are an honest upper bound for a small box.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import socket
import statistics
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import psutil
import websockets

from bench.common import bench_dir

PIPELINE = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    gate = os.environ.get("GATE")
    while gate and not Path(gate).exists():
        time.sleep(0.01)
    n = int(os.environ["LINES"])
    t0 = time.perf_counter()
    for i in range(n):
        print(f"line {i} of the benchmark, some payload to make it realistic")
    sys.stdout.flush()
    print(f"ELAPSED {time.perf_counter() - t0:.4f}", file=sys.stderr)
    """
)

LATENCY = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    gate = os.environ.get("GATE")
    while gate and not Path(gate).exists():
        time.sleep(0.01)
    for i in range(int(os.environ["LINES"])):
        print(f"T {time.time():.6f}")
        time.sleep(0.01)
    """
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def baseline(script: Path, lines: int, unbuffered: bool) -> float:
    env = {**os.environ, "LINES": str(lines)}
    env.pop("GATE", None)
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    with open(os.devnull, "w") as null:
        done = subprocess.run(
            [sys.executable, str(script)], stdout=null, stderr=subprocess.PIPE, text=True, env=env
        )
    return float(done.stderr.split("ELAPSED")[1])


def pipe_floor(script: Path, lines: int) -> tuple[float, float]:
    """The same script writing into a pipe that `cat` drains: what any pipe capture costs.

    (the script's own wall time, the whole command's: interpreter start to both exits)"""
    env = {**os.environ, "LINES": str(lines), "PYTHONUNBUFFERED": "1"}
    env.pop("GATE", None)
    started = time.perf_counter()
    with open(os.devnull, "w") as null:
        child = subprocess.Popen(
            [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
        )
        cat = subprocess.Popen(["cat"], stdin=child.stdout, stdout=null)
        assert child.stdout is not None
        child.stdout.close()
        _, err = child.communicate()
        cat.wait()
    return float(err.decode().split("ELAPSED")[1]), time.perf_counter() - started


def run_duration(run: dict) -> float:
    """started → finished of a run, as the API (and the console) shows it."""
    from datetime import datetime

    started = datetime.fromisoformat(run["started_at"])
    return (datetime.fromisoformat(run["finished_at"]) - started).total_seconds()


# ---- clients (in a child process) --------------------------------------------------------


async def sse_client(base: str, token: str, run_id: str, out: dict[str, float]) -> None:
    count, first = 0, 0.0
    async with (
        httpx.AsyncClient(timeout=None) as client,
        client.stream("GET", f"{base}/api/runs/{run_id}/events", params={"token": token}) as r,
    ):
        # Whole lines: a marker split across two network chunks must still count once.
        async for line in r.aiter_lines():
            if not first:
                first = time.monotonic()
            count += line.count('"line":')
            if line.startswith("event: complete"):
                break
    out.update(lines=count, seconds=time.monotonic() - first)


async def ws_client(base: str, token: str, run_id: str, out: dict[str, float]) -> None:
    count, first = 0, 0.0
    url = base.replace("http", "ws") + f"/ws/runs/{run_id}?token={token}&batch=1"
    async with websockets.connect(url, max_size=None) as conn:
        async for raw in conn:
            if not first:
                first = time.monotonic()
            data = raw if isinstance(raw, bytes) else raw.encode()
            count += data.count(b'"line":')
            if data.startswith(b'{"type":"complete"') or b'"type":"complete"' in data[:40]:
                break
    out.update(lines=count, seconds=time.monotonic() - first)


def clients_main(base: str, token: str, run_id: str, n_sse: int, n_ws: int, q: mp.Queue) -> None:
    async def main() -> list[dict[str, float]]:
        results: list[dict[str, float]] = [{} for _ in range(n_sse + n_ws)]
        tasks = [sse_client(base, token, run_id, results[i]) for i in range(n_sse)]
        tasks += [ws_client(base, token, run_id, results[n_sse + i]) for i in range(n_ws)]
        await asyncio.gather(*tasks)
        return results

    q.put(asyncio.run(main()))


async def latency_clients(base: str, token: str, run_id: str, lines: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {"sse": [], "websocket": []}

    def take(data: dict, kind: str) -> None:
        now = time.time()
        for line in data.get("lines", []):
            if line["line"].startswith("T "):
                out[kind].append((now - float(line["line"][2:])) * 1000)

    async def sse() -> None:
        async with (
            httpx.AsyncClient(timeout=None) as client,
            client.stream("GET", f"{base}/api/runs/{run_id}/events", params={"token": token}) as r,
        ):
            async for line in r.aiter_lines():
                if line.startswith("data: "):
                    data = json.loads(line[6:])
                    take(data, "sse")
                    if data.get("type") == "complete":
                        return

    async def ws() -> None:
        url = base.replace("http", "ws") + f"/ws/runs/{run_id}?token={token}&batch=1"
        async with websockets.connect(url) as conn:
            async for raw in conn:
                data = json.loads(raw)
                take(data, "websocket")
                if data.get("type") == "complete":
                    return

    await asyncio.gather(sse(), ws())
    return out


# ---- orchestration ------------------------------------------------------------------------


def wait_viewers(client: httpx.Client, run_id: str, count: int) -> None:
    while True:
        streams = client.get("/api/streams").json()["streams"]
        if any(s["run_id"] == run_id and s["clients"] >= count for s in streams):
            return
        time.sleep(0.1)


def wait_done(client: httpx.Client, run_id: str) -> dict:
    while True:
        run = client.get(f"/api/runs/{run_id}").json()
        if run["status"] not in ("PENDING", "RUNNING"):
            return run
        time.sleep(0.2)


def serve() -> None:
    """The server under test, in its own process (what `fastflow serve` does)."""
    import uvicorn

    from fastflow.server import create_app
    from fastflow.settings import load_settings

    settings = load_settings()
    uvicorn.run(create_app(settings), host="127.0.0.1", port=settings.port, log_level="warning")


def main() -> None:
    if sys.argv[1:] == ["--serve"]:
        serve()
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--sse", type=int, default=20)
    ap.add_argument("--ws", type=int, default=20)
    ap.add_argument(
        "--rate-limit", type=int, default=1_000_000_000, help="LOG_STREAM_RATE_LIMIT (lines/s)"
    )
    args = ap.parse_args()
    tmp = bench_dir("fastflow-bench-")
    pipes = tmp / "pipelines"
    pipes.mkdir()
    (pipes / "bench_lines.py").write_text(PIPELINE)
    (pipes / "bench_latency.py").write_text(LATENCY)

    plain = baseline(pipes / "bench_lines.py", args.lines, unbuffered=False)
    unbuf = baseline(pipes / "bench_lines.py", args.lines, unbuffered=True)
    print(f"pipeline alone → /dev/null: {plain:.3f}s buffered, {unbuf:.3f}s PYTHONUNBUFFERED=1")
    floors = [pipe_floor(pipes / "bench_lines.py", args.lines) for _ in range(3)]
    piped = statistics.median(f[0] for f in floors)
    piped_cmd = statistics.median(f[1] for f in floors)
    print(
        f"pipeline alone → pipe drained by cat: {piped:.3f}s in the script, {piped_cmd:.3f}s "
        "the whole command (the floor of pipe capture, median of 3)"
    )

    port = free_port()
    env = {
        **os.environ,
        "PIPELINES_DIR": str(pipes),
        "DATA_DIR": str(tmp / "data"),
        "LOGS_DIR": str(tmp / "logs"),
        "FASTFLOW_PORT": str(port),
        "FASTFLOW_ADMIN_PASSWORD": "bench-password",
        "LOG_STREAM_RATE_LIMIT": str(args.rate_limit),  # default: throughput, not the limiter
        "FASTFLOW_STREAM_MAX_PER_USER": "1000",
    }
    env.pop("DATABASE_URL", None)
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "server.log", "w"),  # noqa: SIM115  (read after a failure)
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/health")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        token = httpx.post(
            f"{base}/api/auth/login", json={"username": "admin", "password": "bench-password"}
        ).json()["access_token"]
        client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        proc = psutil.Process(server.pid)
        peak = [proc.memory_info().rss]
        supervisor_peak = [0]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak.append(proc.memory_info().rss)
                for kid in proc.children(recursive=True):
                    try:
                        # Supervisors: started as `-m ...supervisor`, or forked by the launcher
                        # (then they carry its command line but are not the server's child).
                        cmd = " ".join(kid.cmdline())
                        forked = "fastflow.executors.launcher" in cmd and kid.ppid() != proc.pid
                        if forked or "fastflow.executors.supervisor" in cmd:
                            supervisor_peak.append(kid.memory_info().rss)
                    except psutil.Error:
                        continue
                time.sleep(0.1)

        # Warm up the pipeline's environment once (uv), so the run below measures capture.
        warm = client.post("/api/pipelines/bench_lines/run", json={"parameters": {"LINES": 1}})
        wait_done(client, warm.json()["id"])
        rss_idle = proc.memory_info().rss

        # The same run with nobody watching: what capture alone costs (median of 3).
        params = {"LINES": args.lines, "PYTHONUNBUFFERED": "1"}
        durations, inside = [], []
        for _ in range(3):
            alone = client.post("/api/pipelines/bench_lines/run", json={"parameters": params})
            finished = wait_done(client, alone.json()["id"])
            durations.append(run_duration(finished))
            text = client.get(f"/api/runs/{finished['id']}/logs", params={"tail": 50000}).text
            inside.append(float(text.split("ELAPSED")[1].split()[0]))
        duration, unwatched = statistics.median(durations), statistics.median(inside)
        print(
            f"run with no viewers: run duration {duration:.3f}s "
            f"({(duration / piped_cmd - 1) * 100:+.1f}% vs the whole cat command); pipeline "
            f"wall time under capture {unwatched:.3f}s ({(unwatched / piped - 1) * 100:+.1f}% "
            "vs the same in the cat pipe)"
        )

        gate = tmp / "gate"
        run = client.post(
            "/api/pipelines/bench_lines/run",
            json={"parameters": {**params, "GATE": str(gate)}},
        ).json()
        q: mp.Queue = mp.Queue()
        kids = mp.Process(target=clients_main, args=(base, token, run["id"], args.sse, args.ws, q))
        kids.start()
        wait_viewers(client, run["id"], args.sse + args.ws)
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        gate.touch()
        done = wait_done(client, run["id"])
        run_wall = time.monotonic() - started
        results = q.get()
        delivered = time.monotonic() - started
        kids.join()
        stop.set()
        sampler.join()
        # stderr is captured apart from stdout, so its last line may precede stdout's tail.
        log = client.get(f"/api/runs/{run['id']}/logs", params={"tail": 50000}).text
        captured = float(log.split("ELAPSED")[1].split()[0])
        print(
            f"run with {args.sse + args.ws} viewers {done['status']}: pipeline wall time under "
            f"capture {captured:.3f}s ({(captured / piped - 1) * 100:+.1f}% vs the same in the "
            f"cat pipe, {(captured / unbuf - 1) * 100:+.1f}% vs unbuffered /dev/null); "
            f"gate → SUCCESS {run_wall:.2f}s"
        )
        full = sum(1 for r in results if r["lines"] >= args.lines)  # with gaps: fewer
        rates = [r["lines"] / r["seconds"] for r in results if r.get("seconds")]
        print(
            f"{len(results)} clients ({args.sse} SSE + {args.ws} WS): {full} got all "
            f"{args.lines} lines; all delivered {delivered:.1f}s after the gate; lines/s per "
            f"client median {statistics.median(rates):,.0f}, min {min(rates):,.0f}"
        )
        log_mb = (tmp / "logs" / f"{run['id']}.log").stat().st_size / 2**20
        print(
            f"server RSS: idle {rss_idle / 2**20:.0f} MB, peak {max(peak) / 2**20:.0f} MB "
            f"during the run; log file {log_mb:.0f} MB; the run's supervisor process peak "
            f"{max(supervisor_peak) / 2**20:.0f} MB"
        )

        gate2 = tmp / "gate2"
        lat = client.post(
            "/api/pipelines/bench_latency/run",
            json={"parameters": {"LINES": 300, "GATE": str(gate2)}},
        ).json()

        async def measure() -> dict[str, list[float]]:
            task = asyncio.create_task(latency_clients(base, token, lat["id"], 300))
            await asyncio.to_thread(wait_viewers, client, lat["id"], 2)
            gate2.touch()
            return await task

        lats = asyncio.run(measure())
        for kind, values in lats.items():
            values.sort()
            p99 = values[int(len(values) * 0.99) - 1]
            print(
                f"latency print → {kind} client: median {statistics.median(values):.1f} ms, "
                f"p99 {p99:.1f} ms ({len(values)} lines)"
            )
    except Exception:
        print(f"server exit code {server.poll()}; its log: {tmp / 'server.log'}")
        raise
    finally:
        server.terminate()
        server.wait(30)


if __name__ == "__main__":
    main()
