"""A trivial run with the sandbox and without, side by side, and the same script by hand.

`uv run python -m bench.run sandbox_bench`

Three ways to start `python -c pass` and wait for its end, N times each, interleaved so a
busy moment of the machine hits all three alike:
- floor: `subprocess.run` of the interpreter (what starting the script by hand costs);
- fastflow's process supervision (`ProcessRun`: pipes, capture, metrics thread) without the
  sandbox;
- the same with the sandbox: Landlock ruleset built and entered by a thread, `no_new_privs`,
  and — when this runs as root — the switch to the run user.
Then the sandbox's own steps alone: building the ruleset and entering it in a fresh thread.
The difference of the medians is what the sandbox costs a run.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time

from bench.common import bench_dir
from fastflow.events.recorder import RunRecorder
from fastflow.executors.process_run import ProcessJob, ProcessRun
from fastflow.sandbox.access import python_for
from fastflow.sandbox.contain import ruleset_for
from fastflow.sandbox.landlock import abi_version
from fastflow.sandbox.policy import SandboxPolicy, build_policy
from fastflow.sandbox.status import SandboxMode, probe

RUNS = int(os.environ.get("BENCH_RUNS", "200"))


def _ms(values: list[float]) -> str:
    values = sorted(values)
    p90 = values[int(len(values) * 0.9)]
    return f"median {statistics.median(values) * 1000:6.2f} ms  p90 {p90 * 1000:6.2f} ms"


def main() -> None:
    abi, why = abi_version()
    if abi == 0:
        print(f"sandbox bench: no Landlock here ({why})")
        return
    status = probe(SandboxMode.AUTO)
    python, _ = python_for(status.run_user)
    tmp = bench_dir("fastflow-sandbox-bench-")
    work, art, private = tmp / "work", tmp / "artifacts", tmp / "tmp"
    for folder in (work, art, private):
        folder.mkdir()
        if status.run_user is not None:
            os.chown(folder, status.run_user.uid, status.run_user.gid)
    user = status.run_user
    policy = build_policy(
        abi=abi,
        env_dir=python.parent,
        python=python,
        code=tmp / "work",
        writable=[work, art, private],
        uv_cache=None,
        network=True,
        uid=user.uid if user else None,
        gid=user.gid if user else None,
    )
    argv = [str(python), "-c", "pass"]

    def job(sandbox: SandboxPolicy | None) -> ProcessJob:
        return ProcessJob(
            run_id="bench",
            argv=argv,
            cwd=str(work),
            env={"PATH": "/usr/bin:/bin", "TMPDIR": str(private)},
            metrics_path=str(tmp / "metrics.jsonl"),
            sandbox=sandbox.to_dict() if sandbox else None,
        )

    plain_job, sandboxed_job = job(None), job(policy)
    log = tmp / "run.log"

    def supervised(j: ProcessJob) -> float:
        recorder = RunRecorder("bench", log)
        start = time.perf_counter()
        outcome = ProcessRun(j, recorder).run()
        took = time.perf_counter() - start
        recorder.close()
        assert outcome.status == "SUCCESS", outcome
        return took

    def by_hand() -> float:
        start = time.perf_counter()
        subprocess.run(argv, check=True, cwd=work)
        return time.perf_counter() - start

    for _ in range(5):  # warm the page cache and the interpreter's imports
        by_hand(), supervised(plain_job), supervised(sandboxed_job)
    floor, plain, sandboxed = [], [], []
    for _ in range(RUNS):
        floor.append(by_hand())
        plain.append(supervised(plain_job))
        sandboxed.append(supervised(sandboxed_job))

    steps = []
    for _ in range(RUNS):
        start = time.perf_counter()

        def enter() -> None:
            with ruleset_for(policy) as ruleset:
                ruleset.restrict_current_thread()

        thread = threading.Thread(target=enter)
        thread.start()
        thread.join()
        steps.append(time.perf_counter() - start)

    who = f", run user {user.name}" if user else ""
    print(f"sandbox bench: {RUNS} trivial runs each, Landlock ABI {abi}{who}, {python}")
    print(f"  by hand (floor)          {_ms(floor)}")
    print(f"  supervised, no sandbox   {_ms(plain)}")
    print(f"  supervised, sandboxed    {_ms(sandboxed)}")
    cost = statistics.median(sandboxed) - statistics.median(plain)
    print(f"  sandbox cost per run     {cost * 1000:6.2f} ms (difference of the medians)")
    print(f"  ruleset + enter alone    {_ms(steps)}")
    log.unlink(missing_ok=True)
    subprocess.run(["rm", "-rf", str(tmp)], check=False)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
