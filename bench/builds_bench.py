"""Builds: upload-to-finished time of a trivial `.py` build next to running it by hand.

Times `POST /api/builds` (multipart) until the run reads SUCCESS, against `python script.py`
and `uv run --no-project script.py`, and a re-run of the stored upload.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench.common import BenchServer, bench_dir, ms, timed

TRIVIAL = 'print("hello from a trivial build")\n'
REPEAT = int(os.environ.get("BENCH_REPEAT", "30"))


def main() -> None:
    work = bench_dir("fastflow-builds-")
    script = work / "trivial.py"
    script.write_text(TRIVIAL)
    uv = shutil.which("uv") or str(Path(sys.executable).parent / "uv")
    print(f"== builds: trivial .py upload, {REPEAT} builds (warm)")
    bare = timed([sys.executable, str(script)], REPEAT)
    timed([uv, "run", "--no-project", str(script)], 3)
    uv_run = timed([uv, "run", "--no-project", str(script)], REPEAT)

    server = BenchServer({}, MAX_CONCURRENT_RUNS="10")
    try:

        def build(i: int) -> tuple[float, str]:
            t = time.perf_counter()
            r = server.client.post(
                "/api/builds", files={"file": (f"trivial{i}.py", TRIVIAL.encode())}
            )
            r.raise_for_status()
            run = server.wait(r.json()["run_id"])
            assert run["status"] == "SUCCESS", run
            return time.perf_counter() - t, r.json()["build_id"]

        build(-1)  # environment built once
        uploads = [build(i) for i in range(REPEAT)]
        builds = [t for t, _ in uploads]
        reruns = []
        for _ in range(REPEAT):
            t = time.perf_counter()
            r = server.client.post(f"/api/builds/{uploads[0][1]}/run", json={})
            r.raise_for_status()
            server.wait(r.json()["run_id"])
            reruns.append(time.perf_counter() - t)
        print(f"  bare python          {ms(bare)}")
        print(f"  uv run               {ms(uv_run)}")
        print(f"  upload -> SUCCESS    {ms(builds)}")
        print(f"  re-run -> SUCCESS    {ms(reruns)}")
        b, u, f = (statistics.median(x) for x in (bare, uv_run, builds))
        print(f"  ratio build/bare python {f / b:.2f}x (+{(f - b) * 1000:.1f} ms)")
        print(f"  ratio build/uv run      {f / u:.2f}x ({(f - u) * 1000:+.1f} ms)")
    finally:
        server.close()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
