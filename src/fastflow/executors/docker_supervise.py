"""Watches one started container to its end: logs, metrics, health, timeout, cancel, exit.

The docker SDK blocks, so every engine call runs in a thread; log frames and metrics
samples come back to the event loop with `call_soon_threadsafe`, where the run's recorder
(not thread-safe) is used. The container is removed only after its exit code is known and
its output is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from docker.errors import APIError, DockerException, NotFound

from fastflow.events.metrics_file import MetricsFile
from fastflow.events.recorder import RunRecorder
from fastflow.executors.capture import StreamCapture
from fastflow.executors.docker_errors import classify_exit
from fastflow.executors.docker_logs import Frame, Resume, frames_of, open_stream
from fastflow.executors.docker_stats import StatsTracker, iter_readings
from fastflow.executors.process_metrics import Limits
from fastflow.models import FailureKind, RunStatus
from fastflow.runs.ports import ExecutionResult, RunControl, RunSpec

log = logging.getLogger(__name__)

STREAMS = ("stdout", "stderr")
_DRAIN_SECONDS = 5.0
T = TypeVar("T")


def post(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    """Hand a call to the event loop from a thread; a loop already closed (the server
    stopped while the thread still read from the engine) drops it."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(fn, *args)


def in_thread(fn: Callable[[], T]) -> asyncio.Future[T]:
    """Run a long blocking call (a followed stream, `wait`) in its own daemon thread.

    Not `asyncio.to_thread`: its pool has cpu+4 threads, and 20 runs * 4 long calls would
    leave every other blocking call in the server waiting.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, exc: BaseException | None) -> None:
        if future.done():
            return
        if exc is not None:
            future.set_exception(exc)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:  # handed to the awaiting task
            post(loop, settle, None, exc)
        else:
            post(loop, settle, result, None)

    threading.Thread(target=target, daemon=True, name="fastflow-docker").start()
    return future


@dataclass
class SupervisionConfig:
    cancel_grace: float
    health_interval: float
    health_timeout: float | None
    max_line_bytes: int


class ContainerSupervision:
    """One container of one run, from started (or re-attached) to removed."""

    def __init__(
        self,
        cfg: SupervisionConfig,
        client: Any,
        podman: bool,
        container: Any,
        spec: RunSpec,
        recorder: RunRecorder,
        control: RunControl,
        resume: dict[str, Resume] | None = None,
    ) -> None:
        self.cfg = cfg
        self.client = client
        self.podman = podman
        self.container = container
        self.spec = spec
        self.recorder = recorder
        self.control = control
        self.resume = resume or {}
        self.killed_for: RunStatus | FailureKind | None = None
        self.kill_reason = ""
        self._stop = threading.Event()
        self._streams: list[Any] = []
        self._loop = asyncio.get_running_loop()
        config = spec.pipeline.config
        self.health_timeout = config.health_timeout or cfg.health_timeout
        self.limits = Limits(
            cpu_hard=config.cpu_hard_limit,
            cpu_soft=config.cpu_soft_limit,
            mem_hard_bytes=config.mem_hard_limit_bytes,
            mem_soft_bytes=config.mem_soft_limit_bytes,
        )
        self.captures = {
            s: StreamCapture(
                s, recorder, cfg.max_line_bytes, continuing=self._resume_of(s).continuing
            )
            for s in STREAMS
        }
        self.last_health: dict[str, Any] = {"healthy": True, "reason": None, "checked_at": None}

    def _resume_of(self, stream: str) -> Resume:
        return self.resume.get(stream) or Resume(None, False)

    # -- the whole life ---------------------------------------------------------------

    async def run(self) -> ExecutionResult:
        """Supervise until the container ends; never raises for the run's own failure."""
        pumps: list[asyncio.Future[None]] = [
            in_thread(lambda s=s: self._pump_logs(s))  # type: ignore[misc]
            for s in STREAMS
        ]
        pumps.append(in_thread(self._pump_stats))
        watchers = [
            asyncio.create_task(self._watch_cancel()),
            asyncio.create_task(self._watch_health()),
        ]
        try:
            code = await self._wait_exit()
            # Frames still in flight after the exit: give the log pumps a moment to finish.
            await asyncio.wait(pumps[:2], timeout=_DRAIN_SECONDS)
        finally:
            self._stop.set()
            for task in watchers:
                task.cancel()
            for task in watchers:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for stream in self._streams:
                with contextlib.suppress(Exception):
                    stream.close()
            for capture in self.captures.values():
                capture.close()
        oom = await asyncio.to_thread(self._oom_killed)
        await asyncio.to_thread(self._remove)
        return self._classify(code, oom)

    async def _wait_exit(self) -> int | None:
        """The exit code; None when the container vanished (LOST)."""
        wait = in_thread(self._blocking_wait)
        timeout = self.spec.timeout
        if timeout is not None:
            done, _ = await asyncio.wait({wait}, timeout=max(0.0, timeout))
            if not done:
                await self._kill(RunStatus.TIMED_OUT, f"timeout of {timeout:g}s")
        return await wait

    def _blocking_wait(self) -> int | None:
        try:
            return int(self.container.wait()["StatusCode"])
        except NotFound:
            return None
        except DockerException as exc:
            log.warning("run %s: waiting for the container failed: %s", self.spec.run_id, exc)
            return None

    # -- threads: logs and stats ------------------------------------------------------

    def _pump_logs(self, stream: str) -> None:
        try:
            raw = open_stream(self.container, stream, self._resume_of(stream))
            self._streams.append(raw)
            for frame in frames_of(raw, stream, self._resume_of(stream)):
                post(self._loop, self._on_frame, frame)
                if self._stop.is_set():
                    return
        except (DockerException, OSError, ValueError) as exc:
            if not self._stop.is_set():
                log.warning("run %s: %s log stream ended: %s", self.spec.run_id, stream, exc)

    def _on_frame(self, frame: Frame) -> None:
        self.captures[frame.stream].feed(frame.data, {"cpos": list(frame.position)})

    def _pump_stats(self) -> None:
        tracker = StatsTracker(self.limits)
        metrics = MetricsFile(self.spec.metrics_path)
        try:
            for reading in iter_readings(self.client, self.container.id, self.podman):
                if self._stop.is_set():
                    return
                sample = tracker.sample(reading)
                if sample is None:
                    continue
                metrics.append(sample)
                post(self._loop, self.recorder.metrics, sample)
        except (DockerException, OSError, ValueError) as exc:
            if not self._stop.is_set():
                log.info("run %s: stats stream ended: %s", self.spec.run_id, exc)
        finally:
            metrics.close()

    # -- watchers ---------------------------------------------------------------------

    async def _watch_cancel(self) -> None:
        await self.control.cancel_requested.wait()
        await self._stop_container(RunStatus.CANCELLED, self.control.cancel_reason)

    async def _watch_health(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.health_interval)
            problem = await self.check_health()
            if problem is None:
                continue
            kind, why = problem
            self.recorder.error(f"health check failed: {why}")
            if kind is FailureKind.LOST:
                self.killed_for, self.kill_reason = kind, why
                return
            await self._stop_container(kind, why)
            return

    async def check_health(self) -> tuple[FailureKind, str] | None:
        """One health check; remembers the answer for `GET /api/runs/{id}/health`."""
        silent = time.monotonic() - self.recorder.last_output_at
        problem: tuple[FailureKind, str] | None = None
        state: dict[str, Any] = {}
        try:
            await asyncio.to_thread(self.container.reload)
            state = self.container.attrs.get("State") or {}
        except NotFound:
            problem = (FailureKind.LOST, "the container vanished from the engine")
        except DockerException as exc:
            log.warning(
                "run %s: health check could not reach the engine: %s", self.spec.run_id, exc
            )
        engine_health = (state.get("Health") or {}).get("Status")
        if problem is None and engine_health == "unhealthy":
            problem = (FailureKind.UNHEALTHY, "the container's own health check reports unhealthy")
        if problem is None and self.health_timeout is not None and silent > self.health_timeout:
            problem = (
                FailureKind.UNHEALTHY,
                f"no output or progress for {silent:.0f}s (health timeout "
                f"{self.health_timeout:g}s)",
            )
        self.last_health = {
            "healthy": problem is None,
            "reason": problem[1] if problem else None,
            "checked_at": datetime.now(UTC).isoformat(),
            "container_id": self.container.id,
            "container_status": state.get("Status"),
            "engine_health": engine_health,
            "seconds_since_output": round(silent, 1),
            "health_timeout": self.health_timeout,
        }
        return problem

    # -- stopping ---------------------------------------------------------------------

    def _mark(self, reason: RunStatus | FailureKind, why: str) -> bool:
        if self.killed_for is not None:
            return False
        self.killed_for, self.kill_reason = reason, why
        return True

    async def _stop_container(self, reason: RunStatus | FailureKind, why: str) -> None:
        """SIGTERM, SIGKILL after the grace period (the engine's `stop`)."""
        if not self._mark(reason, why):
            return
        self.recorder.system(
            f"stopping the container ({why}): SIGTERM, SIGKILL after {self.cfg.cancel_grace:g}s"
        )
        with contextlib.suppress(DockerException):
            await asyncio.to_thread(self.container.stop, timeout=int(self.cfg.cancel_grace))

    async def _kill(self, reason: RunStatus | FailureKind, why: str) -> None:
        if not self._mark(reason, why):
            return
        self.recorder.system(f"killing the container ({why})")
        with contextlib.suppress(DockerException):
            await asyncio.to_thread(self.container.kill)

    # -- the end ----------------------------------------------------------------------

    def _oom_killed(self) -> bool:
        try:
            self.container.reload()
        except DockerException:
            return False
        return bool((self.container.attrs.get("State") or {}).get("OOMKilled"))

    def _remove(self) -> None:
        """Output and exit code are safe now; the container may go."""
        with contextlib.suppress(NotFound):
            try:
                self.container.remove(force=True)
            except APIError as exc:
                log.warning("run %s: removing its container failed: %s", self.spec.run_id, exc)

    def _classify(self, code: int | None, oom_killed: bool) -> ExecutionResult:
        why = self.kill_reason
        if self.killed_for is RunStatus.CANCELLED:
            return ExecutionResult(RunStatus.CANCELLED, code, error=f"cancelled: {why}")
        if self.killed_for is RunStatus.TIMED_OUT:
            return ExecutionResult(
                RunStatus.TIMED_OUT, code, error=f"timed out after {self.spec.timeout:g}s"
            )
        if self.killed_for in (FailureKind.UNHEALTHY, FailureKind.LOST):
            lost_or_unhealthy = FailureKind(self.killed_for)
            return ExecutionResult(
                RunStatus.FAILED,
                code,
                lost_or_unhealthy,
                f"{lost_or_unhealthy.value.lower()}: {why}",
            )
        if code is None:
            return ExecutionResult(
                RunStatus.FAILED,
                None,
                FailureKind.LOST,
                "the container vanished before its exit code could be read",
            )
        kind, message = classify_exit(code, oom_killed)
        if kind is None:
            return ExecutionResult(RunStatus.SUCCESS, 0)
        return ExecutionResult(RunStatus.FAILED, code, kind, message)
