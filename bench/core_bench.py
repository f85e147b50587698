"""Core overhead: a trivial pipeline through the API against the same script by hand.

A client follows the run over SSE (as `fastflow run --follow` does); polling is shown too.

Prints start-to-finish time (POST until the run reads SUCCESS, every log line persisted) for
fastflow, bare `python`, and `uv run`, their ratios, and the wall time of 100 trivial runs
submitted at once with MAX_CONCURRENT_RUNS=10.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench.common import BenchServer, bench_dir, ms, timed

TRIVIAL = 'print("hello from a trivial pipeline")\n'
REPEAT = int(os.environ.get("BENCH_REPEAT", "30"))


def main() -> None:
    work = bench_dir("fastflow-floor-")
    script = work / "trivial.py"
    script.write_text(TRIVIAL)
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")

    print(f"== core: trivial pipeline, {REPEAT} runs each (warm)")
    bare = timed([sys.executable, str(script)], REPEAT)
    timed([uv, "run", "--no-project", str(script)], 3)  # warm uv's cache
    uv_run = timed([uv, "run", "--no-project", str(script)], REPEAT)

    server = BenchServer({"trivial": TRIVIAL}, MAX_CONCURRENT_RUNS="10")
    try:
        server.wait(server.start_run("trivial"))  # builds the environment once
        api, polled, server_side = [], [], []
        for _ in range(REPEAT):
            t = time.perf_counter()
            run = server.follow(server.start_run("trivial"))
            api.append(time.perf_counter() - t)
            assert run["status"] == "SUCCESS", run
            server_side.append(run["duration_seconds"])
            t = time.perf_counter()
            server.wait(server.start_run("trivial"))
            polled.append(time.perf_counter() - t)
        lines = server.client.get(f"/api/runs/{run['id']}/logs").text
        assert lines == "hello from a trivial pipeline\n", lines

        print(f"  bare python      {ms(bare)}")
        print(f"  uv run           {ms(uv_run)}")
        print(f"  fastflow (API, POST + SSE until complete) {ms(api)}")
        print(f"  fastflow (API, POST + polling GET /runs/id every 1 ms) {ms(polled)}")
        print(f"  fastflow, server-side RUNNING->SUCCESS {ms(server_side)}")
        b, u, f = (statistics.median(x) for x in (bare, uv_run, api))
        print(f"  ratio fastflow/bare python {f / b:.2f}x  (+{(f - b) * 1000:.1f} ms)")
        print(f"  ratio fastflow/uv run      {f / u:.2f}x  ({(f - u) * 1000:+.1f} ms)")

        t = time.perf_counter()
        ids = [server.start_run("trivial") for _ in range(100)]
        accepted = time.perf_counter() - t
        results = [server.wait(i, poll=0.01) for i in ids]
        total = time.perf_counter() - t
        assert all(r["status"] == "SUCCESS" for r in results)
        print(
            f"  100 runs at once (MAX_CONCURRENT_RUNS=10): all accepted in {accepted:.2f} s, "
            f"all SUCCESS after {total:.2f} s ({total / 100 * 1000:.1f} ms/run); "
            f"floor: 100 x bare python sequentially = {statistics.median(bare) * 100:.2f} s"
        )
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
