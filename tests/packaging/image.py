"""The fastflow image, built with Podman from the local base image, and the pieces around it
that a deployment has: an engine socket of the Docker kind, a git server, containers.

The image is tagged by a hash of everything it is built from (the base image's id included),
so a rerun without changes finds it built; older test tags are removed when a new one is made.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx

from tests.support.services import service_missing

ROOT = Path(__file__).resolve().parents[2]
BASE_IMAGE = os.environ.get("FASTFLOW_TEST_WORKER_IMAGE", "fastflow-worker:local")
TAG_PREFIX = "localhost/fastflow:test-"
# What the Dockerfile reads (see .dockerignore), plus the Dockerfile itself.
INPUTS = ("Dockerfile", ".dockerignore", "pyproject.toml", "uv.lock", "README.md", "deploy", "src")


def podman(*args: str, timeout: float = 120, check: bool = True) -> str:
    done = subprocess.run(
        ["podman", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout.strip()


def require_podman() -> None:
    """Podman as root with the local base image; else skip (locally) or fail (CI)."""
    if shutil.which("podman") is None or os.geteuid() != 0:
        service_missing("Podman (as root)", "run scripts/container-engine.sh as root")
    found = subprocess.run(
        ["podman", "image", "exists", BASE_IMAGE], capture_output=True, timeout=60, check=False
    )
    if found.returncode != 0:
        service_missing(f"the base image {BASE_IMAGE}", "run scripts/container-engine.sh")


def inputs_hash() -> str:
    digest = hashlib.sha256(podman("image", "inspect", "--format", "{{.Id}}", BASE_IMAGE).encode())
    for name in INPUTS:
        path = ROOT / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(ROOT)).encode() + b"\0")
            digest.update(file.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def build_image() -> tuple[str, float]:
    """The image's tag, built unless already there; and how long the build took (0: cached)."""
    tag = TAG_PREFIX + inputs_hash()
    if subprocess.run(["podman", "image", "exists", tag], check=False).returncode == 0:
        return tag, 0.0
    started = time.monotonic()
    podman(
        "build", "--format", "docker", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
        "--tag", tag, "--file", str(ROOT / "Dockerfile"), str(ROOT),
        timeout=900,
    )  # fmt: skip
    took = time.monotonic() - started
    for old in podman("images", "--format", "{{.Repository}}:{{.Tag}}").splitlines():
        if old.startswith(TAG_PREFIX) and old != tag:
            podman("rmi", old, check=False)
    return tag, took


class EngineSocket:
    """A Podman API service on a socket of the Docker kind: root's, group `gid`, mode 0660 —
    so a container's non-root user may use it only by joining that group."""

    def __init__(self, folder: Path, gid: int, log: Path) -> None:
        self.path = folder / "engine.sock"
        self.proc = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{self.path}"],
            cwd="/",
            stdin=subprocess.DEVNULL,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while not self.path.exists():
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "podman service made no socket:\n" + log.read_text()
            time.sleep(0.1)
        os.chown(self.path, 0, gid)
        self.path.chmod(0o660)
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(self.path)), timeout=5) as api:
            while True:
                try:
                    if api.get("http://engine/_ping").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert time.monotonic() < deadline, "podman service silent:\n" + log.read_text()
                time.sleep(0.1)

    @property
    def host(self) -> str:
        return f"unix://{self.path}"

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class GitDaemon:
    """`git daemon` serving the bare repositories under `base` on a loopback port."""

    def __init__(self, base: Path, port: int, log: Path) -> None:
        self.url = f"git://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            ["git", "daemon", "--reuseaddr", "--export-all", f"--base-path={base}",
             "--listen=127.0.0.1", f"--port={port}", str(base)],
            stdin=subprocess.DEVNULL,
            stdout=log.open("ab"),
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        deadline = time.monotonic() + 20
        while subprocess.run(
            ["git", "ls-remote", f"{self.url}/pipelines.git"], capture_output=True, check=False
        ).returncode:
            assert self.proc.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "git daemon did not answer:\n" + log.read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


class Container:
    """One container started by a test, removed by its id."""

    def __init__(self, image: str, name: str, args: list[str], command: list[str]) -> None:
        self.name = name
        self.id = podman("run", "--detach", "--name", name, *args, image, *command)

    def logs(self) -> str:
        done = subprocess.run(
            ["podman", "logs", self.id], capture_output=True, text=True, timeout=60, check=False
        )
        return done.stdout + done.stderr

    def running(self) -> bool:
        return podman("inspect", "--format", "{{.State.Running}}", self.id, check=False) == "true"

    def remove(self) -> None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            podman("rm", "--force", "--time", "10", self.id, check=False, timeout=60)
