"""Docker executor overhead: fastflow's start-to-finish time for a trivial pipeline against
`docker run` of the same command by hand (via the SDK), warm uv cache; then 20 runs at once.

Needs the container engine (scripts/container-engine.sh); the database is a temporary SQLite.
Run: DOCKER_HOST=unix:///run/podman/podman.sock uv run python bench/docker_bench.py [N]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import docker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' live server

from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    start_server,
    wait_for_run,
)

from fastflow.settings import load_settings

HOST = os.environ.get("DOCKER_HOST", "unix:///run/podman/podman.sock")
IMAGE = os.environ.get("WORKER_BASE_IMAGE", "fastflow-worker:local")
TRIVIAL = 'print("hello from the bench")\n'


def _duration(run: dict[str, object]) -> float:
    created = datetime.fromisoformat(str(run["created_at"]))
    finished = datetime.fromisoformat(str(run["finished_at"]))
    return (finished - created).total_seconds()


def by_hand(client: docker.DockerClient, pipelines: Path, cache: Path) -> float:
    """The same container fastflow makes, by hand: run, wait, read logs, remove."""
    t0 = time.perf_counter()
    c = client.containers.run(
        IMAGE,
        ["uv", "run", "--no-project", "--script", "/app/trivial.py"],
        volumes={
            str(pipelines / "trivial.py"): {"bind": "/app/trivial.py", "mode": "ro"},
            str(cache): {"bind": "/uv-cache", "mode": "rw"},
        },
        environment={"UV_CACHE_DIR": "/uv-cache", "UV_SYSTEM_CERTS": "1"},
        detach=True,
    )
    c.wait()
    c.logs()
    c.remove(force=True)
    return time.perf_counter() - t0


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    client = docker.DockerClient(base_url=HOST)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pipelines = root / "pipelines"
        pipelines.mkdir()
        (pipelines / "trivial.py").write_text(TRIVIAL)
        cache = root / "uv-cache"
        settings = load_settings(
            _env_file=None,
            DATABASE_URL=f"sqlite:///{root / 'fastflow.db'}",
            PIPELINES_DIR=str(pipelines),
            DATA_DIR=str(root / "data"),
            LOGS_DIR=str(root / "logs"),
            UV_CACHE_DIR=str(cache),
            EXECUTOR="docker",
            DOCKER_HOST=HOST,
            WORKER_BASE_IMAGE=IMAGE,
            FASTFLOW_ADMIN_USER=ADMIN_USER,
            FASTFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
            MAX_CONCURRENT_RUNS=20,
        )
        server = start_server(settings)
        try:
            with server.client() as c:

                def one() -> tuple[float, float]:
                    t0 = time.perf_counter()
                    rid = c.post("/api/pipelines/trivial/run", json={}).json()["id"]
                    run = wait_for_run(c, rid, timeout=300)
                    assert run["status"] == "SUCCESS", run
                    return time.perf_counter() - t0, _duration(run)

                one()  # warm: uv cache, uv version, engine connection
                by_hand(client, pipelines, cache)
                ff = [one() for _ in range(n)]
                hand = [by_hand(client, pipelines, cache) for _ in range(n)]
                ff_wall = statistics.median(x[0] for x in ff)
                ff_server = statistics.median(x[1] for x in ff)
                hand_med = statistics.median(hand)
                print(f"sequential, n={n}, warm cache, engine={HOST}")
                print(f"  docker run by hand (SDK: run+wait+logs+remove): median {hand_med:.3f}s")
                print(f"  fastflow, API call to SUCCESS seen by polling:  median {ff_wall:.3f}s")
                print(f"  fastflow, created_at -> finished_at (server):   median {ff_server:.3f}s")
                print(
                    f"  ratio fastflow/by hand: {ff_wall / hand_med:.2f} (server-side "
                    f"{ff_server / hand_med:.2f})"
                )

                t0 = time.perf_counter()
                ids = [
                    c.post("/api/pipelines/trivial/run", json={}).json()["id"] for _ in range(20)
                ]
                runs = [wait_for_run(c, rid, timeout=600) for rid in ids]
                wall = time.perf_counter() - t0
                ok = sum(r["status"] == "SUCCESS" for r in runs)
                durations = sorted(_duration(r) for r in runs)
                print(
                    f"20 runs at once: {ok}/20 SUCCESS, all done in {wall:.2f}s wall, per run "
                    f"median {statistics.median(durations):.2f}s, max {durations[-1]:.2f}s"
                )
                t0 = time.perf_counter()
                import concurrent.futures as cf

                with cf.ThreadPoolExecutor(20) as pool:
                    list(pool.map(lambda _: by_hand(client, pipelines, cache), range(20)))
                print(
                    f"20 by hand at once (20 threads): all done in {time.perf_counter() - t0:.2f}s"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
