"""Docker executor: each run in its own container from WORKER_BASE_IMAGE, via the docker SDK.

Works against Docker and against Podman's Docker-compatible API (DOCKER_HOST). The pipeline
is mounted read-only, the shared uv cache read-write, the run's work and artifacts folders
read-write; `uv run` inside the container installs the requirements from that cache.
Containers carry the label `fastflow-run-id`, so a restarted server finds and re-attaches
them (`reattach`), and are removed once their exit code and output are recorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import pwd
import threading
import time
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
from docker.errors import APIError, DockerException

from fastflow.events.recorder import RunRecorder
from fastflow.executors.docker_errors import classify_start_error, describe_engine_error
from fastflow.executors.docker_logs import resume_points
from fastflow.executors.docker_paths import (
    APP_DIR,
    ARTIFACTS,
    INSTANCE_LABEL,
    UV_CACHE,
    WORK,
    WORKER_LABEL,
    container_command,
    container_env,
)
from fastflow.executors.docker_supervise import STREAMS, ContainerSupervision, SupervisionConfig
from fastflow.executors.docker_sweep import (
    LABEL,
    container_labels,
    list_containers,
    sweep_stopped,
)
from fastflow.models import FailureKind, RunStatus
from fastflow.records import Run
from fastflow.runs.ports import ExecutionResult, RunControl, RunSpec, RunStatuses

if TYPE_CHECKING:
    from fastflow.settings import Settings

log = logging.getLogger(__name__)

__all__ = ["INSTANCE_LABEL", "WORKER_LABEL", "DockerExecutor"]

UV_VERSION_LABEL = "fastflow-uv-version"


class DockerExecutor:
    """Runs each run in a container; connects to the engine on first use, not at start-up."""

    name = "docker"
    outlives_server = True

    def __init__(
        self,
        *,
        image: str,
        uv_cache_dir: Path,
        base_url: str | None = None,
        cancel_grace: float = 10.0,
        health_interval: float = 30.0,
        health_timeout: float | None = None,
        max_line_bytes: int = 1024 * 1024,
        uv_command: str = "uv",
        labels: dict[str, str] | None = None,
        user: tuple[int, int] | None = None,
    ) -> None:
        """`user`: (uid, gid) the container's process runs as (default: this process's own;
        a server running as root gives its FASTFLOW_RUN_USER, so no run is root inside)."""
        self.image = image
        self.user = user or (os.getuid(), os.getgid())
        # A cache of the containers' own when they run as another user than the server, so
        # neither side finds folders of the other it cannot write.
        if self.user[0] != os.getuid():
            uv_cache_dir = uv_cache_dir.with_name(uv_cache_dir.name + "-containers")
        self.uv_cache_dir = uv_cache_dir
        self.base_url = base_url
        self.uv_command = uv_command
        self.labels = dict(labels or {})
        self.cfg = SupervisionConfig(cancel_grace, health_interval, health_timeout, max_line_bytes)
        self._client: Any = None
        self._podman = False
        self._uv_version: str | None = None
        # A thread lock, not an asyncio one: a worker shares one executor between runs that
        # each have their own event loop (one `asyncio.run` per Celery task thread).
        self._lock = threading.Lock()
        self._active: dict[str, ContainerSupervision] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, labels: dict[str, str] | None = None
    ) -> DockerExecutor:
        """The executor as configured (DOCKER_HOST, WORKER_BASE_IMAGE, uv cache, grace,
        health checks): one construction for the server and for `fastflow worker`."""
        return cls(
            image=settings.worker_base_image,
            uv_cache_dir=settings.resolved_uv_cache_dir,
            base_url=settings.docker_host,
            cancel_grace=settings.cancel_grace_seconds,
            health_interval=settings.health_check_interval,
            health_timeout=settings.health_timeout,
            max_line_bytes=settings.max_line_bytes,
            labels=labels,
            user=_run_user(settings.run_user) if os.geteuid() == 0 else None,
        )

    # -- engine connection ------------------------------------------------------------

    def _connect(self) -> tuple[Any, bool]:
        url = self.base_url or os.environ.get("DOCKER_HOST")
        client = (
            docker.DockerClient(base_url=url, max_pool_size=200, timeout=60)
            if url
            else docker.from_env(max_pool_size=200, timeout=60)
        )
        try:
            components = client.version().get("Components") or []
        except DockerException:
            client.close()
            raise
        podman = any("podman" in str(c.get("Name", "")).lower() for c in components)
        return client, podman

    def new_client(self) -> Any:
        """An SDK client of its own, for a thread outside the runs (the caller closes it)."""
        return self._connect()[0]

    async def client(self) -> tuple[Any, bool]:
        """The SDK client and whether the engine is Podman; raises DockerException if down."""
        if self._client is None:
            await asyncio.to_thread(self._connect_once)
        return self._client, self._podman

    def _connect_once(self) -> None:
        with self._lock:
            if self._client is None:
                self._client, self._podman = self._connect()

    async def uv_version(self) -> str | None:
        """uv's version in the worker image, asked once (a tiny container)."""
        if self._uv_version is None:
            client, _ = await self.client()

            def ask() -> str | None:
                # create/start/remove by hand: `run(remove=True)` leaves the container behind
                # when the start itself fails (e.g. no uv in the image).
                box = client.containers.create(
                    self.image, [self.uv_command, "--version"], labels={"fastflow-probe": "uv"}
                )
                try:
                    box.start()
                    box.wait()
                    parts = bytes(box.logs()).decode(errors="replace").split()
                finally:
                    box.remove(force=True)
                return parts[1] if len(parts) > 1 else None

            try:
                self._uv_version = await asyncio.to_thread(ask)
            except DockerException as exc:
                log.warning("could not read uv's version in %s: %s", self.image, exc)
        return self._uv_version

    def _engine_error(self, exc: BaseException) -> ExecutionResult:
        message = describe_engine_error(exc, self.image, self.base_url)
        return ExecutionResult(
            RunStatus.FAILED, failure_kind=FailureKind.ENGINE_ERROR, error=message
        )

    # -- one run ----------------------------------------------------------------------

    async def execute(
        self, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        """Create, start and supervise the run's container; engine trouble → ENGINE_ERROR."""
        setup_started = time.monotonic()
        try:
            client, podman = await self.client()
            uv_version = await self.uv_version()
            await asyncio.to_thread(_prepare_dirs, spec)
            container = await asyncio.to_thread(self._create, client, spec, uv_version)
        except DockerException as exc:
            return self._engine_error(exc)
        try:
            await asyncio.to_thread(container.start)
        except APIError as exc:
            # Podman reports a missing command here instead of exiting 127.
            await asyncio.to_thread(container.remove, force=True)
            known = classify_start_error(exc)
            if known is None:
                return self._engine_error(exc)
            kind, code = known
            return ExecutionResult(
                RunStatus.FAILED, code, kind, f"the container could not start: {exc.explanation}"
            )
        except DockerException as exc:
            return self._engine_error(exc)
        # Setup: connecting, preparing folders, creating and starting the container.
        setup = round(time.monotonic() - setup_started, 4)
        result = await self._supervise(client, podman, container, spec, recorder, control)
        result.uv_version = uv_version
        result.setup_duration = setup
        return result

    def _create(self, client: Any, spec: RunSpec, uv_version: str | None = None) -> Any:
        pipeline = spec.pipeline
        target = f"{APP_DIR}/{pipeline.name}" + (".py" if pipeline.kind == "file" else "")
        uid, gid = self.user
        if not self.uv_cache_dir.exists():
            self.uv_cache_dir.mkdir(parents=True)
            os.chown(self.uv_cache_dir, uid, gid)
        if uid != os.getuid():
            for folder in (spec.work_dir, spec.artifacts_dir):
                os.chown(folder, uid, gid)
        volumes = {
            str(pipeline.path): {"bind": target, "mode": "ro"},
            str(self.uv_cache_dir): {"bind": UV_CACHE, "mode": "rw"},
            str(spec.artifacts_dir): {"bind": ARTIFACTS, "mode": "rw"},
            str(spec.work_dir): {"bind": WORK, "mode": "rw"},
        }
        limits: dict[str, Any] = {}
        config = pipeline.config
        if config.mem_hard_limit_bytes is not None:
            # memswap = mem: the limit is a limit, not an invitation to swap.
            limits["mem_limit"] = config.mem_hard_limit_bytes
            limits["memswap_limit"] = config.mem_hard_limit_bytes
        if config.cpu_hard_limit is not None:
            limits["nano_cpus"] = int(config.cpu_hard_limit * 1e9)
        return client.containers.create(
            self.image,
            container_command(pipeline, self.uv_command),
            name=f"fastflow-{spec.run_id}",
            labels={
                **self.labels,
                LABEL: spec.run_id,
                "fastflow-pipeline": pipeline.name,
                # Read back by a server that re-attaches to the container.
                UV_VERSION_LABEL: uv_version or "",
            },
            environment=container_env(spec),
            volumes=volumes,
            working_dir=WORK,
            user=f"{uid}:{gid}",
            # No capabilities, no way to gain any (setuid binaries), and no network when
            # pipeline.json says "network": false. No engine socket and nothing of the
            # server's is mounted: only the pipeline (read-only), its folders and the cache.
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            network_mode="none" if not config.network else None,
            auto_remove=False,
            detach=True,
            **limits,
        )

    async def _supervise(
        self,
        client: Any,
        podman: bool,
        container: Any,
        spec: RunSpec,
        recorder: RunRecorder,
        control: RunControl,
        resume: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        run = ContainerSupervision(
            self.cfg, client, podman, container, spec, recorder, control, resume
        )
        self._active[spec.run_id] = run
        try:
            return await run.run()
        finally:
            self._active.pop(spec.run_id, None)

    # -- after a restart --------------------------------------------------------------

    def sweep(self, statuses: RunStatuses, dry_run: bool) -> list[str]:
        """Remove stopped fastflow containers whose run is finished or gone (retention).

        A container is left when its run is PENDING/RUNNING or supervised here, and every
        running container is left: re-attach after a restart needs them. Engine down: [].
        """
        try:
            client = self._client if self._client is not None else self._connect()[0]
        except DockerException as exc:
            log.warning("cleanup: container engine not reachable: %s", exc)
            return []
        # Only containers of this server (another server may share the engine).
        mine = [f"{k}={v}" for k, v in self.labels.items() if k == INSTANCE_LABEL]
        return sweep_stopped(client, [LABEL, *mine], set(self._active), statuses, dry_run)

    def abandon(self, run: Run) -> str:
        """The container was not found after a restart: nothing left here to stop."""
        return (
            "the server stopped while this run was running, and its container was not "
            "found afterwards (or the container engine could not be reached)"
        )

    def close(self) -> None:
        """Nothing to release: the engine connection closes with the process."""

    async def reattachable(self, run_ids: Collection[str]) -> dict[str, str] | None:
        """Containers labelled with one of `run_ids` (id per run); reports the others."""
        try:
            client, _ = await self.client()
            found = await asyncio.to_thread(list_containers, client, [LABEL])
        except DockerException as exc:
            log.warning("cannot reach the container engine to re-attach runs: %s", exc)
            return None
        wanted = set(run_ids)
        handles: dict[str, str] = {}
        for container in found:
            run_id = container_labels(container).get(LABEL, "")
            if run_id in wanted:
                handles[run_id] = container.id
            elif run_id not in self._active:
                log.warning(
                    "container %s (%s) carries %s=%s but no run of this server is RUNNING "
                    "with that id; it is left alone",
                    container.short_id,
                    container.attrs.get("State"),
                    LABEL,
                    run_id,
                )
        return handles

    async def reattach(
        self, handle: str, spec: RunSpec, recorder: RunRecorder, control: RunControl
    ) -> ExecutionResult:
        """Continue a run whose container outlived the previous server."""
        try:
            client, podman = await self.client()
            container = await asyncio.to_thread(client.containers.get, handle)
        except DockerException as exc:
            return self._engine_error(exc)
        resume = await asyncio.to_thread(resume_points, recorder.log_path, STREAMS)
        recorder.system(f"re-attached to container {container.short_id} after a server restart")
        result = await self._supervise(client, podman, container, spec, recorder, control, resume)
        labels = (container.attrs.get("Config") or {}).get("Labels") or {}
        result.uv_version = labels.get(UV_VERSION_LABEL) or None
        return result

    async def health(self, run_id: str) -> dict[str, Any] | None:
        """Check a run's container now (the periodic check acts on problems; this reports)."""
        run = self._active.get(run_id)
        if run is None:
            return None
        await run.check_health()
        return dict(run.last_health)


def _run_user(name: str) -> tuple[int, int]:
    """FASTFLOW_RUN_USER's uid and gid (`nobody`'s numbers when it is not a user here)."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return (65534, 65534)
    return (entry.pw_uid, entry.pw_gid)


def _prepare_dirs(spec: RunSpec) -> None:
    spec.work_dir.mkdir(parents=True, exist_ok=True)
    spec.artifacts_dir.mkdir(parents=True, exist_ok=True)
