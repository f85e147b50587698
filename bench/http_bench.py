"""The cost of one authenticated HTTP request, beside a bare ASGI app's answer.

Both servers run as their own process under the same uvicorn settings as `fastflow serve`
(uvloop, httptools, access log on). Requests are sent one after another over one kept-alive
connection; for each kind the bench prints the client's round trip and the server process's
own CPU time per request (user + system, all of its threads, from /proc), the figure that
does not depend on the client's speed. The floor is the bare app's answer to the same kind
of request, measured in the same session.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from bench.common import BenchServer, free_port, ms

TRIVIAL = "pass\n"
REPEAT = int(os.environ.get("BENCH_REQUESTS", "2000"))
RUNS = int(os.environ.get("BENCH_RUN_REQUESTS", "200"))
_TICK = os.sysconf("SC_CLK_TCK")

BARE_APP = """
import json
import logging
import sys

import uvicorn

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
BODY = json.dumps({"id": "x" * 26, "pipeline_name": "trivial", "status": "SUCCESS"}).encode()


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(BODY))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=None, proxy_headers=True)
"""


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def measure(
    pid: int, send: Callable[[], httpx.Response], n: int, expect: int
) -> tuple[list[float], float]:
    """Round trips of `n` requests and the server's CPU seconds per request."""
    for _ in range(min(50, n)):
        assert send().status_code == expect
    times = []
    cpu = cpu_seconds(pid)
    for _ in range(n):
        t = time.perf_counter()
        r = send()
        times.append(time.perf_counter() - t)
        assert r.status_code == expect, r.text
    return times, (cpu_seconds(pid) - cpu) / n


def line(label: str, times: list[float], cpu: float) -> None:
    print(f"  {label:<44} {ms(times)}  server CPU {cpu * 1000:5.2f} ms/request")


def load() -> None:
    """The load average beside the figures: another process may share the machine."""
    print("  load average (1, 5, 15 min):", " ".join(Path("/proc/loadavg").read_text().split()[:3]))


def bare_floor() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", BARE_APP, str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        with httpx.Client(base_url=url, headers={"Authorization": "Bearer x" * 8}) as client:
            get = measure(proc.pid, lambda: client.get("/api/runs/x"), REPEAT, 200)
            line("bare ASGI app: GET", *get)
            post = measure(
                proc.pid, lambda: client.post("/x", json={"parameters": {}}), REPEAT, 200
            )
            line("bare ASGI app: POST (JSON body)", *post)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    print(f"== http: {REPEAT} requests of each kind in sequence, one connection")
    load()
    bare_floor()
    server = BenchServer({"trivial": TRIVIAL}, FASTFLOW_UI=os.environ.get("BENCH_UI", "true"))
    try:
        pid = server.proc.pid
        run_id = server.start_run("trivial")
        server.wait(run_id)
        client = server.client
        token = client.post("/api/auth/tokens", json={"name": "bench"}).json()["token"]
        api = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"})
        anonymous = httpx.Client(base_url=server.url)
        kinds: list[tuple[str, Callable[[], httpx.Response], int]] = [
            ("GET /health (no auth)", lambda: client.get("/health"), 200),
            ("GET /api/runs/{id} (session JWT)", lambda: client.get(f"/api/runs/{run_id}"), 200),
            ("GET /api/runs/{id} (API token)", lambda: api.get(f"/api/runs/{run_id}"), 200),
            (
                "GET /api/runs/{id} (no credentials: 401)",
                lambda: anonymous.get(f"/api/runs/{run_id}"),
                401,
            ),
            (
                "POST /api/runs/{id}/cancel (finished: 409)",
                lambda: client.post(f"/api/runs/{run_id}/cancel"),
                409,
            ),
        ]
        for label, send, expect in kinds:
            line(label, *measure(pid, send, REPEAT, expect))
        started: list[str] = []

        def post_run() -> httpx.Response:
            r = client.post("/api/pipelines/trivial/run", json={"parameters": {}})
            started.append(r.json()["id"])
            return r

        times, cpu = measure(pid, post_run, RUNS, 202)
        # The runs themselves execute meanwhile: the server's CPU includes their supervision.
        line(f"POST /api/pipelines/trivial/run ({RUNS}, runs execute)", times, cpu)
        for rid in started:
            server.wait(rid, poll=0.01)
        print(f"  (medians: {statistics.median(times) * 1000:.2f} ms per POST)")
        api.close()
        anonymous.close()
    finally:
        server.close()
    load()


if __name__ == "__main__":
    main()
