"""What one sandboxed run may touch: a plain, JSON-serializable description.

The server (or worker) decides the policy from the run's folders, its environment and its
pipeline; the run's supervisor turns it into a Landlock ruleset and an OS user just before
the run's interpreter starts (`fastflow.sandbox.contain`).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# The system a program needs to start and behave as in a shell: read and execute only.
SYSTEM_READ_EXEC = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
# Read only: process information (another process's memory, environment and maps are
# guarded by the kernel's ptrace checks, which Landlock and the run's own user tighten).
SYSTEM_READ = ("/proc", "/sys")
# Devices: /dev/null, /dev/urandom, a terminal.
DEVICES = ("/dev",)
# POSIX shared memory and semaphores (multiprocessing's locks and pools): shared by all runs
# of a machine, as /dev/shm is; files made there are their creator's (0600).
SHARED_MEMORY = ("/dev/shm",)  # noqa: S108  (a path runs may use, not one we write to)
# Files under /etc that are often symlinks into /run or elsewhere (DNS, time zone, CAs):
# their targets are allowed too, file by file.
_ETC_LINKS = ("/etc/resolv.conf", "/etc/hosts", "/etc/localtime", "/etc/ssl/certs")


@dataclass(frozen=True)
class SandboxPolicy:
    """Paths by access, the network switch and the OS user the run becomes."""

    read_exec: tuple[str, ...]
    read: tuple[str, ...]
    write: tuple[str, ...]
    devices: tuple[str, ...] = DEVICES
    network: bool = True
    uid: int | None = None
    gid: int | None = None
    abi: int = 0
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxPolicy:
        fields = dict(data)
        for key in ("read_exec", "read", "write", "devices", "notes"):
            if key in fields:
                fields[key] = tuple(fields[key])
        return cls(**fields)


def interpreter_prefix(python: Path) -> Path:
    """The installation an environment's interpreter belongs to (its stdlib lives there)."""
    real = Path(os.path.realpath(python))
    # <prefix>/bin/python3.11 → <prefix>
    return real.parent.parent if real.parent.name == "bin" else real.parent


def build_policy(
    *,
    abi: int,
    env_dir: Path,
    python: Path,
    code: Path,
    writable: list[Path],
    uv_cache: Path | None,
    network: bool,
    uid: int | None,
    gid: int | None,
) -> SandboxPolicy:
    """The policy of one run: system and its environment read-only, its folders writable."""
    read_exec = [*SYSTEM_READ_EXEC, str(interpreter_prefix(python)), str(env_dir)]
    read = [*SYSTEM_READ, str(code)]
    for link in _ETC_LINKS:
        target = os.path.realpath(link)
        if target != link and os.path.exists(target):
            read.append(target)
    if uv_cache is not None:
        read.append(str(uv_cache))
    return SandboxPolicy(
        read_exec=tuple(dict.fromkeys(read_exec)),
        read=tuple(dict.fromkeys(read)),
        write=(*(str(p) for p in writable), *SHARED_MEMORY),
        network=network,
        uid=uid,
        gid=gid,
        abi=abi,
    )


def is_beneath(path: Path, parents: tuple[str, ...]) -> str | None:
    """The first of `parents` that `path` lies beneath (or is), else None."""
    real = os.path.realpath(path)
    for parent in parents:
        p = os.path.realpath(parent)
        if real == p or real.startswith(p.rstrip("/") + "/"):
            return parent
    return None
