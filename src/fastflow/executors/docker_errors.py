"""What the container engine's errors mean for a run, in words a person understands."""

from __future__ import annotations

from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from fastflow.models import FailureKind


def describe_engine_error(exc: BaseException, image: str, host: str | None) -> str:
    """An engine error as one sentence: what failed and what to check."""
    where = host or "the default DOCKER_HOST"
    if isinstance(exc, ImageNotFound) or (
        isinstance(exc, NotFound) and "image" in str(exc).lower()
    ):
        return (
            f"the worker image {image!r} is not available to the container engine; "
            "pull or build it, or set WORKER_BASE_IMAGE"
        )
    if isinstance(exc, APIError):
        detail = exc.explanation or str(exc)
        if "mount" in str(detail).lower() or "no such file or directory" in str(detail).lower():
            return f"the container engine could not mount the run's folders: {detail}"
        return f"the container engine refused the run: {detail}"
    if isinstance(exc, DockerException):
        return f"cannot reach the container engine at {where}: {exc}"
    return f"container engine error: {exc}"


def classify_start_error(exc: APIError) -> tuple[FailureKind, int] | None:
    """A failed `start` that means 127/126 (Podman raises instead of exiting); else None."""
    text = str(exc.explanation or exc).lower()
    if "executable file not found" in text or "no such file or directory" in text:
        return FailureKind.COMMAND_NOT_FOUND, 127
    if "permission denied" in text:
        return FailureKind.NOT_EXECUTABLE, 126
    return None


def classify_exit(code: int, oom_killed: bool) -> tuple[FailureKind | None, str | None]:
    """Exit code (and the engine's OOM flag) → failure kind and the message the UI shows."""
    if code == 0:
        return None, None
    if code == 137:
        if oom_killed:
            return FailureKind.OOM, "killed by the kernel: the container ran out of memory"
        # SIGKILL that fastflow did not send: almost always the OOM killer.
        return FailureKind.OOM, "killed (SIGKILL, exit 137), likely out of memory"
    if code == 125:
        return FailureKind.ENGINE_ERROR, "the container engine failed to run the container (125)"
    if code == 126:
        return FailureKind.NOT_EXECUTABLE, "the container's command is not executable (126)"
    if code == 127:
        return FailureKind.COMMAND_NOT_FOUND, "the container's command was not found (127)"
    return FailureKind.EXIT_NONZERO, f"exited with code {code}"
