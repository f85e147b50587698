"""The container engine for docker-executor tests: Podman's Docker API (or a real Docker).

`scripts/container-engine.sh` provides it on a fresh machine (scripts/test runs it). Locally a
missing engine or image skips the tests with the reason; under FASTFLOW_CI=1 it fails them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import docker
from docker.errors import DockerException, ImageNotFound

from tests.support.services import service_missing

DEFAULT_HOST = "unix:///run/podman/podman.sock"
IMAGE = os.environ.get("FASTFLOW_TEST_WORKER_IMAGE", "fastflow-worker:local")


@dataclass(frozen=True)
class Engine:
    host: str
    image: str
    client: docker.DockerClient


def find_engine() -> Engine | str:
    """The engine and image, or why they are not usable."""
    host = os.environ.get("DOCKER_HOST") or DEFAULT_HOST
    try:
        client = docker.DockerClient(base_url=host, timeout=30)
        client.ping()
    except DockerException as exc:
        return f"container engine at {host}: {exc}"
    try:
        client.images.get(IMAGE)
    except ImageNotFound:
        return f"worker image {IMAGE!r} on {host} (run scripts/container-engine.sh)"
    except DockerException as exc:
        return f"container engine at {host}: {exc}"
    return Engine(host, IMAGE, client)


def require_engine(found: Engine | str) -> Engine:
    """The engine, or skip (locally) / fail (CI) with the reason."""
    if isinstance(found, str):
        service_missing("the container engine", found)
        raise AssertionError("unreachable")  # service_missing skips or fails
    return found
