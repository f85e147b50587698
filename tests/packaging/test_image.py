"""The image as a deployment runs it: a server container and a worker container against the
machine's PostgreSQL and Redis, a pipelines volume cloned and then updated by a real git sync
from a git server, and runs under EXECUTOR=docker through a mounted engine socket — all as
the image's non-root user, with no step by hand."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
import yaml

from tests.conftest import EXAMPLES
from tests.packaging.image import (
    BASE_IMAGE,
    ROOT,
    Container,
    EngineSocket,
    GitDaemon,
    build_image,
    podman,
    require_podman,
)
from tests.support.git import git
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, free_port, wait_for_run
from tests.support.services import PG_ADMIN_URL, service_missing
from tests.support.workers import TEST_REDIS_URL, WORKER_TOKEN, clear_prefix, redis_or_skip

# The first test builds the image (one to three minutes on a fresh machine, within its
# timeout: pytest-timeout counts fixtures too).
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SOCKET_GID = 2375  # a group like Docker's `docker`, which the image's user does not have
BOXED = """\
from pathlib import Path

inside = Path("/run/.containerenv").exists() or Path("/.dockerenv").exists()
print("boxed pipeline, in a container:", inside)
"""


@pytest.fixture(scope="module")
def image() -> str:
    require_podman()
    tag, took = build_image()
    print(f"image {tag}: " + (f"built in {took:.0f} s" if took else "cached"))
    return tag


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database: the server in the image migrates it itself."""
    name = f"fastflow_image_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        service_missing("PostgreSQL", exc)
    url = sa.engine.make_url(PG_ADMIN_URL).set(drivername="postgresql", database=name)
    yield url.render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _repository(base: Path) -> tuple[Path, Path]:
    """A bare repository `pipelines.git` under `base` with the hello pipeline on main, and a
    working copy to push more from."""
    bare = base / "pipelines.git"
    git(base, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    work = base / "work"
    shutil.copytree(EXAMPLES / "hello", work / "hello")
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "add", ".")
    git(work, "commit", "--quiet", "-m", "hello")
    git(work, "push", "--quiet", str(bare), "main")
    return bare, work


def _wait(what: str, check: object, container: Container, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert container.running(), f"{container.name} stopped:\n{container.logs()}"
        assert time.monotonic() < deadline, f"{what} not within {timeout}s:\n{container.logs()}"
        time.sleep(0.25)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_the_image_syncs_and_runs_in_containers_as_a_non_root_user(
    image: str, database: str, tmp_path: Path
) -> None:
    client = redis_or_skip()
    run_tag = uuid.uuid4().hex[:8]
    prefix = f"ffimage-{run_tag}"
    server_dir, worker_dir = tmp_path / "server", tmp_path / "worker"
    for folder in (server_dir / "data", server_dir / "pipelines", worker_dir / "data"):
        folder.mkdir(parents=True)
    _, work = _repository(tmp_path)
    started: list[Container] = []
    daemon = GitDaemon(tmp_path, free_port(), tmp_path / "git-daemon.log")
    socket = EngineSocket(tmp_path, SOCKET_GID, tmp_path / "podman-service.log")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The engine resolves a run's bind mounts on this machine: fastflow's folders are
    # mounted at the same paths inside its containers (docs/deployment.md).
    common = [
        "--network=host",
        f"--volume={socket.path}:{socket.path}",
        f"--env=DOCKER_HOST={socket.host}",
        f"--env=WORKER_BASE_IMAGE={BASE_IMAGE}",
        f"--env=REDIS_URL={TEST_REDIS_URL}",
        f"--env=FASTFLOW_REDIS_PREFIX={prefix}",
        f"--env=FASTFLOW_WORKER_TOKEN={WORKER_TOKEN}",
        "--env=LOG_FORMAT=text",
    ]
    try:
        server = Container(
            image,
            f"fastflow-image-server-{run_tag}",
            [
                *common,
                f"--volume={server_dir}:{server_dir}",
                f"--env=DATA_DIR={server_dir / 'data'}",
                f"--env=LOGS_DIR={server_dir / 'data' / 'logs'}",
                f"--env=PIPELINES_DIR={server_dir / 'pipelines'}",
                f"--env=PIPELINES_REPO={daemon.url}/pipelines.git",
                f"--env=DATABASE_URL={database}",
                "--env=DISPATCHER=celery",
                "--env=EXECUTOR=docker",
                "--env=FASTFLOW_HOST=127.0.0.1",
                f"--env=FASTFLOW_PORT={port}",
                f"--env=FASTFLOW_ADMIN_PASSWORD={ADMIN_PASSWORD}",
                "--env=UV_PRE_HEAT=false",
            ],
            ["serve"],
        )
        started.append(server)
        worker = Container(
            image,
            f"fastflow-image-worker-{run_tag}",
            [
                *common,
                f"--volume={worker_dir}:{worker_dir}",
                f"--env=DATA_DIR={worker_dir / 'data'}",
                f"--env=LOGS_DIR={worker_dir / 'data' / 'logs'}",
                f"--env=FASTFLOW_URL={url}",
                "--env=FASTFLOW_WORKER_NAME=image-worker",
            ],
            ["worker", "--concurrency=1"],
        )
        started.append(worker)
        _wait("the server's /health", lambda: _answers(f"{url}/health"), server)

        # Both run as the image's user (tini alone stays root, to pass on signals).
        for box, command in ((server, "fastflow serve"), (worker, "fastflow worker")):
            rows = [r.split(None, 1) for r in podman("top", box.id, "user", "args").splitlines()]
            users = {user for user, args in rows[1:] if command in args and "tini" not in args}
            assert users == {"fastflow"}, rows
        assert (server_dir / "pipelines").stat().st_uid == 10001  # the volume, made its own

        token = (
            httpx.post(
                f"{url}/api/auth/login", json={"username": ADMIN_USER, "password": ADMIN_PASSWORD}
            )
            .raise_for_status()
            .json()["access_token"]
        )
        api = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        # Cloned from PIPELINES_REPO on first start.
        names = [p["name"] for p in api.get("/api/pipelines").raise_for_status().json()]
        assert names == ["hello"], names

        # A new commit reaches the volume through git sync.
        (work / "boxed").mkdir()
        (work / "boxed" / "main.py").write_text(BOXED)
        (work / "boxed" / "pipeline.json").write_text('{"executor": "docker", "timeout": 120}')
        git(work, "add", ".")
        git(work, "commit", "--quiet", "-m", "boxed")
        git(work, "push", "--quiet", str(tmp_path / "pipelines.git"), "main")
        synced = api.post("/api/sync", json={})
        assert synced.status_code == 200, synced.text
        names = [p["name"] for p in api.get("/api/pipelines").raise_for_status().json()]
        assert sorted(names) == ["boxed", "hello"], (names, synced.json())

        _wait(
            "the worker",
            lambda: [w["id"] for w in api.get("/api/workers").json()] == ["image-worker"],
            worker,
        )
        # The image's own health check, and compose.yaml's, pass in the running containers.
        podman("healthcheck", "run", server.id)
        services = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
        for box, service in ((server, "fastflow"), (worker, "worker-1")):
            test = services[service]["healthcheck"]["test"]
            assert test[0] == "CMD", test
            podman("exec", box.id, *test[1:])

        run = api.post("/api/pipelines/boxed/run", json={})
        assert run.status_code == 202, run.text
        done = wait_for_run(api, run.json()["id"], timeout=180)
        log = api.get(f"/api/runs/{done['id']}/logs/download").text
        assert done["status"] == "SUCCESS", f"{done}\n{log}\n{worker.logs()}"
        assert done["executor"] == "docker", done
        assert "boxed pipeline, in a container: True" in log, log

        # A backup from inside the image: pg_dump of the PostgreSQL client it ships.
        archive = server_dir / "data" / "backup.tar.gz"
        said = podman("exec", "--user=fastflow", server.id, "fastflow", "backup", str(archive))
        assert said.startswith("backup written to"), said
        assert archive.stat().st_size > 0 and archive.stat().st_uid == 10001
    finally:
        for box in reversed(started):
            box.remove()
        socket.stop()
        daemon.stop()
        clear_prefix(client, prefix)
        client.close()


def test_a_checkout_of_another_owner_is_trusted_and_a_user_start_needs_no_root(
    image: str, tmp_path: Path
) -> None:
    checkout = tmp_path / "checkout"  # root's, as a host folder mounted as it is
    shutil.copytree(EXAMPLES / "hello", checkout / "hello")
    git(checkout, "init", "--quiet", "--initial-branch=main")
    git(checkout, "add", ".")
    git(checkout, "commit", "--quiet", "-m", "first")
    as_user = ["run", "--rm", "--user=10001", f"--volume={checkout}:/pipelines"]
    logged = [image, "-C", "/pipelines", "log", "--format=%s"]
    assert podman(*as_user, "--entrypoint=git", *logged) == "first"
    # Without the image's safe.directory git refuses the very same checkout.
    refused = subprocess.run(
        ["podman", *as_user, "--entrypoint=git", image, "-c", "safe.directory=",
         "-C", "/pipelines", "log"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "dubious ownership" in refused.stderr, refused
    # Started as the user already, the entrypoint prepares nothing and runs fastflow.
    assert podman("run", "--rm", "--user=10001", image, "--version").startswith("fastflow ")


_DIGEST = """\
import hashlib, pathlib, sys
root = pathlib.Path(sys.argv[1])
digest = hashlib.sha256()
for path in sorted(root.rglob("*.py")):
    digest.update(path.relative_to(root).as_posix().encode() + b"\\0" + path.read_bytes())
print(digest.hexdigest())
"""


def test_the_image_holds_this_checkouts_code(image: str) -> None:
    # A build cache must never hand out an older fastflow.
    here = subprocess.run(
        [sys.executable, "-c", _DIGEST, str(ROOT / "src" / "fastflow")],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    where = "import fastflow, pathlib; print(pathlib.Path(fastflow.__file__).parent)"
    package = podman("run", "--rm", "--entrypoint=python3", image, "-c", where)
    inside = podman("run", "--rm", "--entrypoint=python3", image, "-c", _DIGEST, package)
    assert inside == here
