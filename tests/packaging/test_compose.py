"""compose.yaml as Compose reads it (podman-compose's `config`), and what a deployment from it
needs: a writable pipelines volume, the engine socket only in its profile, health checks that
the dependencies wait on, and the PostgreSQL major version the image's client tools match."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
REQUIRED = {
    "FASTFLOW_WORKER_TOKEN": "a-long-random-worker-token",
    "POSTGRES_PASSWORD": "pg-password",
    "PIPELINES_REPO": "https://git.example.org/team/pipelines.git",
}
SOCKET = "/var/run/docker.sock"
FASTFLOW_SERVICES = {"fastflow", "worker-1", "worker-2"}


def _config(*args: str, env: dict[str, str] = REQUIRED) -> subprocess.CompletedProcess[str]:
    outer = {k: v for k, v in os.environ.items() if k not in REQUIRED}
    compose = Path(sys.executable).parent / "podman-compose"
    return subprocess.run(
        [str(compose), "--file", str(ROOT / "compose.yaml"), *args, "config"],
        env={**outer, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _services(*args: str) -> dict[str, Any]:
    done = _config(*args)
    assert done.returncode == 0, done.stderr
    services: dict[str, Any] = yaml.safe_load(done.stdout)["services"]
    return services


def test_the_default_stack_is_a_server_two_workers_postgres_and_redis() -> None:
    services = _services()
    assert set(services) == {*FASTFLOW_SERVICES, "postgres", "redis"}
    assert services["postgres"]["image"].startswith("postgres:15")
    server = services["fastflow"]
    assert server["environment"]["DISPATCHER"] == "celery"
    assert server["environment"]["FASTFLOW_RUNS_ON_SHUTDOWN"] == "keep"
    assert server["environment"]["PIPELINES_REPO"] == REQUIRED["PIPELINES_REPO"]
    assert server["ports"] == ["127.0.0.1:8000:8000"]
    names = set()
    for name in FASTFLOW_SERVICES - {"fastflow"}:
        env = services[name]["environment"]
        assert env["FASTFLOW_URL"] == "http://fastflow:8000"
        assert env["FASTFLOW_WORKER_TOKEN"] == server["environment"]["FASTFLOW_WORKER_TOKEN"]
        names.add(env["FASTFLOW_WORKER_NAME"])
        assert services[name]["command"][0] == "worker"
    assert len(names) == 2  # distinct heartbeat records


def test_the_pipelines_volume_is_writable_and_the_socket_only_in_its_profile() -> None:
    services = _services()
    mounts = {name: [str(v) for v in s.get("volumes", [])] for name, s in services.items()}
    assert "pipelines:/pipelines" in mounts["fastflow"]
    for name, volumes in mounts.items():
        assert not [v for v in volumes if v.endswith(":ro")], (name, volumes)
        assert not [v for v in volumes if SOCKET in v], (name, volumes)
    docker = _services("--profile", "docker")
    assert set(docker) - set(services) == {"docker-worker"}
    worker = docker["docker-worker"]
    assert worker["profiles"] == ["docker"]
    assert f"{SOCKET}:{SOCKET}" in worker["volumes"]
    assert worker["environment"]["DOCKER_HOST"] == f"unix://{SOCKET}"
    assert worker["command"][:3] == ["worker", "--queues", "docker"]
    # The engine mounts a run's folders from the host: the data folder is at the same path.
    data = worker["environment"]["DATA_DIR"]
    assert f"{data}:{data}" in worker["volumes"]


def test_every_service_has_a_health_check_and_waits_for_its_dependencies() -> None:
    services = _services("--profile", "docker")
    for name, service in services.items():
        assert service["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, (name, dependency)
    assert set(services["fastflow"]["depends_on"]) == {"postgres", "redis"}
    for name in ("worker-1", "worker-2", "docker-worker"):
        assert set(services[name]["depends_on"]) == {"fastflow", "redis"}, name


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_a_missing_required_setting_stops_compose(missing: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    done = _config(env=env)
    assert done.returncode != 0
    assert missing in done.stderr


def test_the_image_has_the_client_tools_of_the_compose_postgres() -> None:
    image = _services()["postgres"]["image"]
    major = re.match(r"postgres:(\d+)", image)
    assert major, image
    assert f"postgresql-client-{major.group(1)}" in (ROOT / "Dockerfile").read_text()
