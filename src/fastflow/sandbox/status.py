"""Whether this process can sandbox its runs, decided once at start and reported everywhere.

`FASTFLOW_SANDBOX=auto` (default) sandboxes wherever the kernel allows it, `required` refuses
to start runs without a sandbox, `off` runs them as the server's own user with its files in
reach. When fastflow runs as root, runs also become `FASTFLOW_RUN_USER` (default `nobody`).
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from fastflow.errors import ConfigError
from fastflow.sandbox import landlock


class SandboxMode(StrEnum):
    AUTO = "auto"
    REQUIRED = "required"
    OFF = "off"


@dataclass(frozen=True)
class RunUser:
    name: str
    uid: int
    gid: int


AbiProbe = Callable[[], tuple[int, str]]


@dataclass(frozen=True)
class SandboxStatus:
    """The answer of `probe`: what runs started by this process are confined by."""

    mode: SandboxMode
    active: bool
    landlock_abi: int
    run_user: RunUser | None
    reason: str = ""
    # Why the run user cannot reach the runs' folders (empty: it can). Runs are refused then:
    # the alternative, root without capabilities, would still own root's Unix sockets (a
    # container engine's), which Landlock does not guard.
    unreachable: str = ""

    @property
    def network_control(self) -> bool:
        """`"network": false` in pipeline.json can be enforced (Landlock ABI 4)."""
        return self.active and self.landlock_abi >= 4

    @property
    def refuses_runs(self) -> bool:
        return (self.mode is SandboxMode.REQUIRED and not self.active) or bool(self.unreachable)

    def refusal(self) -> str:
        if self.unreachable:
            return f"runs cannot start: {self.unreachable}"
        return (
            "FASTFLOW_SANDBOX=required, but runs cannot be sandboxed on this machine: "
            f"{self.reason}. Use a kernel with Landlock (Linux 5.13+), or set "
            "FASTFLOW_SANDBOX=auto to run without it."
        )

    def summary(self) -> str:
        """One line for the server log."""
        if not self.active:
            if self.mode is SandboxMode.OFF:
                return (
                    "FASTFLOW_SANDBOX=off: runs are NOT sandboxed; they run as the server's "
                    "user and can read its keys and database"
                )
            if self.mode is SandboxMode.REQUIRED:
                return f"runs are refused: {self.refusal()}"
            return f"runs are NOT sandboxed: {self.reason}"
        if self.unreachable:
            return f"runs are refused: {self.unreachable}"
        who = f", as user {self.run_user.name}" if self.run_user else ""
        return f"runs are sandboxed (Landlock ABI {self.landlock_abi}{who})"

    def with_unreachable(self, why: str) -> SandboxStatus:
        """The run user cannot reach what runs need: runs are refused, saying `why`."""
        return replace(self, unreachable=why)

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "sandboxed": self.active,
            "landlock_abi": self.landlock_abi,
            "run_user": self.run_user.name if self.run_user else None,
            "network_control": self.network_control,
            "detail": self.summary(),
        }


def probe(
    mode: SandboxMode, run_user: str = "nobody", abi_probe: AbiProbe | None = None
) -> SandboxStatus:
    """What the kernel and this process's user allow. `abi_probe` is the seam tests use to
    stand for a kernel without Landlock. A FASTFLOW_RUN_USER that cannot be used is a
    configuration error (never a silent fall-back to running as root)."""
    if mode is SandboxMode.OFF:
        return SandboxStatus(mode, False, 0, None, "switched off by FASTFLOW_SANDBOX=off")
    abi, why = (abi_probe or landlock.abi_version)()
    user: RunUser | None = None
    if abi > 0 and os.geteuid() == 0:
        try:
            entry = pwd.getpwnam(run_user)
        except KeyError:
            raise ConfigError(
                f"invalid configuration: FASTFLOW_RUN_USER: {run_user!r} is not a user on this "
                "machine (runs of a server running as root become this user)"
            ) from None
        if entry.pw_uid == 0:
            raise ConfigError(
                "invalid configuration: FASTFLOW_RUN_USER: runs must not be root; name an "
                "unprivileged user (default: nobody), or set FASTFLOW_SANDBOX=off"
            )
        user = RunUser(entry.pw_name, entry.pw_uid, entry.pw_gid)
    return SandboxStatus(mode, abi > 0, abi, user, why)
