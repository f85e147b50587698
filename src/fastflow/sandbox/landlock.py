"""Linux Landlock through its three system calls (ctypes; no root needed).

Why our own module rather than a binding from PyPI: the bindings there are young (0.x or
dev releases) and thin, while what fastflow needs is small and exact — restrict one thread
(the thread that then starts the run, so only the run inherits the domain), pick the access
rights the running kernel's ABI knows, and say precisely why Landlock is unavailable.

A ruleset lists what is *allowed*; every right it "handles" and no rule grants is denied, by
any path (symlinks and `..` included), to the restricted thread and everything it starts.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import stat
from typing import Any

# System call numbers (the same on x86_64 and aarch64: both use the unified numbering).
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH, _RULE_NET_PORT = 1, 2
_PR_SET_NO_NEW_PRIVS = 38

# Filesystem rights (ABI 1 unless noted).
EXECUTE = 1 << 0
WRITE_FILE = 1 << 1
READ_FILE = 1 << 2
READ_DIR = 1 << 3
REMOVE_DIR = 1 << 4
REMOVE_FILE = 1 << 5
MAKE_CHAR = 1 << 6
MAKE_DIR = 1 << 7
MAKE_REG = 1 << 8
MAKE_SOCK = 1 << 9
MAKE_FIFO = 1 << 10
MAKE_BLOCK = 1 << 11
MAKE_SYM = 1 << 12
REFER = 1 << 13  # ABI 2
TRUNCATE = 1 << 14  # ABI 3
IOCTL_DEV = 1 << 15  # ABI 5
# Network rights (ABI 4) and scopes (ABI 6).
NET_BIND_TCP = 1 << 0
NET_CONNECT_TCP = 1 << 1
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0
SCOPE_SIGNAL = 1 << 1

# Rights that may be granted on a file (not a directory) rule.
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV
READ = READ_FILE | READ_DIR
READ_EXEC = READ | EXECUTE


def fs_rights(abi: int) -> int:
    """Every filesystem right the kernel's ABI knows."""
    rights = (1 << 13) - 1
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


class LandlockError(OSError):
    """Landlock is missing or refused a call; the message says which and why."""


class _RulesetAttr(ctypes.Structure):
    _fields_ = (
        ("handled_access_fs", ctypes.c_uint64),
        ("handled_access_net", ctypes.c_uint64),
        ("scoped", ctypes.c_uint64),
    )


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1  # __attribute__((packed)) in the kernel's header
    _fields_ = (("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32))


_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    """The C library (errno kept for `check`), loaded once for every caller."""
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _syscall() -> Any:
    return libc().syscall


def abi_version() -> tuple[int, str]:
    """(ABI version, "") when Landlock works here, else (0, why not)."""
    if platform.system() != "Linux":
        return 0, f"Landlock is a Linux feature; this is {platform.system()}"
    if platform.machine() not in ("x86_64", "aarch64", "arm64"):
        return 0, f"Landlock calls are not wired up for {platform.machine()} in fastflow"
    result = _syscall()(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), _CREATE_RULESET_VERSION)
    if result >= 1:
        return int(result), ""
    err = ctypes.get_errno()
    if err == errno.ENOSYS:
        return 0, "the kernel has no Landlock (Linux 5.13 or later built with it is needed)"
    if err == errno.EOPNOTSUPP:
        return 0, "Landlock is built into the kernel but not enabled (boot with lsm=...,landlock)"
    if err == errno.EPERM:
        return 0, "a seccomp filter (e.g. a container's) forbids the Landlock system calls"
    return 0, f"Landlock is not usable: {os.strerror(err)}"


def check(result: int, what: str) -> int:
    """`result` of a C call, or LandlockError naming `what` and errno's sentence."""
    if result < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"{what}: {os.strerror(err)}")
    return result


class Ruleset:
    """One Landlock ruleset: handle rights, allow some beneath paths, then restrict a thread."""

    def __init__(self, abi: int, fs: int, net: int = 0, scoped: int = 0) -> None:
        self.abi = abi
        self.fs = fs & fs_rights(abi)
        self.net = net if abi >= 4 else 0
        self.scoped = scoped if abi >= 6 else 0
        attr = _RulesetAttr(self.fs, self.net, self.scoped)
        # Older kernels refuse fields they do not know: pass only the ones this ABI has.
        size = 24 if abi >= 6 else 16 if abi >= 4 else 8
        self._fd = check(
            _syscall()(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), 0),
            "creating a Landlock ruleset",
        )

    def allow(self, path: str, rights: int) -> bool:
        """Allow `rights` beneath `path` (a file gets only file rights); False if it is gone."""
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            return False
        try:
            rights &= self.fs
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                rights &= FILE_RIGHTS
            if not rights:
                return True
            attr = _PathBeneathAttr(rights, fd)
            check(
                _syscall()(_SYS_ADD_RULE, self._fd, _RULE_PATH_BENEATH, ctypes.byref(attr), 0),
                f"allowing {path!r}",
            )
        finally:
            os.close(fd)
        return True

    @property
    def fd(self) -> int:
        """The ruleset's descriptor (to hand to a process that restricts itself with it)."""
        return self._fd

    def restrict_current_thread(self) -> None:
        """Enforce the ruleset on the calling thread (and what it starts from now on).

        Sets no_new_privs first (the kernel requires it without CAP_SYS_ADMIN, and nothing the
        run executes may gain privileges). Irreversible for this thread.
        """
        check(libc().prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "setting no_new_privs")
        check(_syscall()(_SYS_RESTRICT_SELF, self._fd, 0), "enforcing the Landlock ruleset")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Ruleset:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
