"""A local run's folders and sandbox policy, decided by the executor before the run starts.

Every run gets a private temporary folder (`TMPDIR`) next to its work dir; a sandboxed run
also gets it as `HOME`, and may write nowhere else but its work dir and artifacts dir. When
runs become another OS user, their three folders are made that user's, and the folders
above them only let it pass through.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from fastflow.runs.ports import RunSpec
from fastflow.sandbox.access import blocking_folder, python_for
from fastflow.sandbox.policy import (
    SYSTEM_READ,
    SYSTEM_READ_EXEC,
    SandboxPolicy,
    build_policy,
    is_beneath,
)
from fastflow.sandbox.status import RunUser, SandboxMode, SandboxStatus

log = logging.getLogger(__name__)

# The run's folder and the ones above it: others may pass through, not list or read.
_PASS_THROUGH = 0o711
_RECHECK = 10.0


def _umask() -> int:
    """This process's umask, read without changing it (all bits when it cannot be read:
    every folder is then chmod-ed)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o777


@dataclass(frozen=True)
class PreparedRun:
    """What the executor adds to a run's process: its policy and environment variables."""

    policy: SandboxPolicy | None
    env: dict[str, str]
    warning: str | None = None


class RunSandbox:
    """Prepares local runs for the sandbox this process probed at start."""

    def __init__(self, status: SandboxStatus, uv_cache: Path | None = None) -> None:
        self.status = status
        self.uv_cache = uv_cache
        # Each run's folders are made with their modes (no chmod) when the umask keeps them.
        self._umask = _umask()
        # Work roots made passable, and when the way to them was last found open to the
        # run user (checked again after _RECHECK seconds, not on every run).
        self._passable: dict[Path, float] = {}

    def refusal(self, spec: RunSpec) -> str | None:
        """Why `spec` must not start here (None: it may)."""
        if self.status.refuses_runs:
            return self.status.refusal()
        if not spec.pipeline.config.network and not self.status.network_control:
            if self.status.mode is SandboxMode.OFF:
                return None  # the operator switched containment off; prepare() warns
            why = (
                self.status.reason
                if not self.status.active
                else f"Landlock ABI {self.status.landlock_abi} has no network rules (4+ needed)"
            )
            return (
                'pipeline.json says "network": false, but this machine cannot take the '
                f"network away from a run ({why}); the run was not started"
            )
        return None

    def tmp_dir(self, spec: RunSpec) -> Path:
        return spec.work_dir.parent / "tmp"

    def prepare(self, spec: RunSpec, env_dir: Path, python: Path) -> PreparedRun:
        """Create the run's folders (owned by the run's user) and its policy."""
        tmp = self.tmp_dir(spec)
        folders = [spec.work_dir, spec.artifacts_dir, tmp]
        run_root = spec.work_dir.parent
        env = {"TMPDIR": str(tmp)}
        status = self.status
        warning = None
        if not status.active:
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
            if not spec.pipeline.config.network:
                warning = 'pipeline.json says "network": false, but FASTFLOW_SANDBOX=off'
            return PreparedRun(None, env, warning)
        user = status.run_user
        if user is None:
            for folder in folders:
                folder.mkdir(parents=True, exist_ok=True)
        else:
            blocked = self._open_way(run_root.parent, user)
            self._make(run_root, _PASS_THROUGH)
            for folder in folders:
                self._make(folder, 0o700)
                os.chown(folder, user.uid, user.gid)
            if blocked is not None:
                warning = (
                    f"the run user {user.name} cannot enter {blocked} (on the way to the "
                    "run's work dir); allow others to pass through it (chmod o+x)"
                )
        env["HOME"] = str(tmp)
        policy = build_policy(
            abi=status.landlock_abi,
            env_dir=env_dir,
            python=python,
            code=spec.pipeline.path,
            writable=folders,
            uv_cache=self.uv_cache,
            network=spec.pipeline.config.network,
            uid=user.uid if user else None,
            gid=user.gid if user else None,
        )
        return PreparedRun(policy, env, warning)

    def _make(self, folder: Path, mode: int) -> None:
        """`folder` with `mode`: one mkdir for a new folder the umask leaves alone."""
        try:
            folder.mkdir(mode)
            if mode & self._umask == 0:
                return
        except FileExistsError:
            pass
        except FileNotFoundError:
            folder.mkdir(mode, parents=True, exist_ok=True)
        os.chmod(folder, mode)

    def _open_way(self, work_root: Path, user: RunUser) -> Path | None:
        """Make the work root passable and find the first folder on the way to it the run
        user cannot enter; a way found open is trusted for _RECHECK seconds."""
        checked = self._passable.get(work_root)
        if checked is not None and time.monotonic() - checked < _RECHECK:
            return None
        work_root.mkdir(parents=True, exist_ok=True)
        os.chmod(work_root, _PASS_THROUGH)
        blocked = blocking_folder(work_root, user)
        if blocked is None:
            self._passable[work_root] = time.monotonic()
        return blocked

    def cleanup(self, spec: RunSpec) -> None:
        """The private temporary folder goes with the run."""
        shutil.rmtree(self.tmp_dir(spec), ignore_errors=True)


@dataclass(frozen=True)
class HostPlan:
    """How this process will contain its runs, decided once at start."""

    status: SandboxStatus
    python: Path  # the interpreter pipeline environments are built on
    warnings: list[str]


def prepare_host(
    status: SandboxStatus,
    data_dir: Path,
    logs_dir: Path,
    run_folders: list[Path],
    pipelines_dir: Path | None = None,
) -> HostPlan:
    """Make the server's folders private and the runs' reachable; decide the interpreter and
    what the server log says about it (once, at start).

    `run_folders`: folders under DATA_DIR that runs need to pass through (their work dirs,
    unpacked uploads, worker bundles). When the run user cannot enter a folder on the way to
    DATA_DIR or PIPELINES_DIR (say they lie under /root), runs are refused with a sentence
    saying which folder and what to do.
    """
    warnings: list[str] = []
    for folder in (data_dir, logs_dir):
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    user = status.run_user if status.active else None
    if user is not None:
        # DATA_DIR itself is fastflow's to open (below); the folders above it are not.
        for name, target in (("DATA_DIR", data_dir.parent), ("PIPELINES_DIR", pipelines_dir)):
            blocked = blocking_folder(target, user) if target is not None else None
            if blocked is not None:
                status = status.with_unreachable(
                    f"fastflow runs as root, so runs become the user {user.name}, who cannot "
                    f"enter {blocked} on the way to {name}; let others pass through it "
                    f"(chmod o+x {blocked}), move {name}, or set FASTFLOW_RUN_USER"
                )
                break
    if user is not None:
        for folder in (data_dir, *run_folders):
            folder.mkdir(parents=True, exist_ok=True)
            os.chmod(folder, _PASS_THROUGH)
    if status.active:
        readable = SYSTEM_READ_EXEC + SYSTEM_READ
        for name, folder in (("DATA_DIR", data_dir), ("LOGS_DIR", logs_dir)):
            parent = is_beneath(folder, readable)
            if parent is not None:
                warnings.append(
                    f"{name} ({folder}) lies under {parent}, which sandboxed runs may read: "
                    "move it elsewhere (e.g. /var/lib/fastflow)"
                )
    python, note = python_for(user)
    if note:
        warnings.append(note)
    return HostPlan(status, python, warnings)


def log_sandbox(status: SandboxStatus, warnings: list[str]) -> None:
    """Say once, at start, how runs are contained (a warning when they are not)."""
    if status.active and not status.unreachable:
        log.info("%s", status.summary())
    else:
        log.warning("%s", status.summary())
    for warning in warnings:
        log.warning("sandbox: %s", warning)
    # Said once, plainly: fastflow does not make per-run cgroups (yet), on any host.
    log.info(
        "per-run cgroups are not used: the memory hard limit of local runs is enforced by "
        "sampling, cpu_hard_limit is not enforced for them"
    )
