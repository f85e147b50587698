"""Starting a run's process inside its sandbox, and leaving nothing of it behind.

The run is started by a short-lived thread of the supervisor that first becomes the run:
it switches to the run's OS user (raw system calls change the calling thread's credentials
only, where the C library's wrappers would change the whole process), sets `no_new_privs`
and enters the Landlock domain — all three belong to the thread that sets them, and a process
inherits them from the thread that forked it. So only the run (and everything it starts) is
confined, the supervisor's other threads are not, no Python code runs between fork and exec
(a `preexec_fn` would, which can deadlock a threaded process), and `subprocess` may still
start the run with a cheap vfork.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

from fastflow.sandbox import landlock as ll
from fastflow.sandbox.policy import SandboxPolicy

_PR_SET_PDEATHSIG, _PR_SET_CHILD_SUBREAPER = 1, 36
# setgroups, setresuid, setresgid by architecture (raw: they change this thread only).
_CRED_CALLS = {"x86_64": (116, 117, 119), "aarch64": (159, 147, 149)}
_CRED_CALLS["arm64"] = _CRED_CALLS["aarch64"]


def ruleset_for(policy: SandboxPolicy) -> ll.Ruleset:
    """The Landlock ruleset of `policy` (paths that do not exist are skipped)."""
    abi = policy.abi
    all_fs = ll.fs_rights(abi)
    net = 0 if policy.network else ll.NET_BIND_TCP | ll.NET_CONNECT_TCP
    ruleset = ll.Ruleset(
        abi, all_fs, net=net, scoped=ll.SCOPE_SIGNAL | ll.SCOPE_ABSTRACT_UNIX_SOCKET
    )
    try:
        for path in policy.read_exec:
            ruleset.allow(path, ll.READ_EXEC)
        for path in policy.read:
            ruleset.allow(path, ll.READ)
        device = ll.READ | ll.WRITE_FILE | ll.TRUNCATE | ll.IOCTL_DEV
        for path in policy.devices:
            ruleset.allow(path, device)
        for path in policy.write:
            ruleset.allow(path, all_fs)
    except BaseException:
        ruleset.close()
        raise
    return ruleset


def start_contained(
    policy: SandboxPolicy, start: Callable[[], subprocess.Popen[bytes]]
) -> subprocess.Popen[bytes]:
    """Call `start` (which forks and execs the run) from a thread confined by `policy`."""
    outcome: list[subprocess.Popen[bytes] | BaseException] = []

    def confined() -> None:
        try:
            with ruleset_for(policy) as ruleset:
                if policy.uid is not None and not _become_in_thread(policy):
                    raise ll.LandlockError(0, "cannot switch to the run's user")
                ruleset.restrict_current_thread()
            outcome.append(start())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=confined, name="fastflow-sandbox")
    thread.start()
    thread.join()
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _become_in_thread(policy: SandboxPolicy) -> bool:
    """Make the calling thread the policy's user: no groups, its gid, its uid (and with a
    non-root uid, no capabilities). False where the calls are not known for this machine."""
    import platform

    calls = _CRED_CALLS.get(platform.machine())
    if calls is None:
        return False
    setgroups, setresuid, setresgid = calls
    syscall = ll.libc().syscall
    uid, gid = policy.uid, policy.gid if policy.gid is not None else policy.uid
    for number, args in ((setgroups, (0, None)), (setresgid, (gid,) * 3), (setresuid, (uid,) * 3)):
        ll.check(syscall(number, *args), f"switching to uid {uid}")
    return True


def become_subreaper() -> bool:
    """Orphans of this process's descendants come to it (not to init): a run's daemons
    stay within reach. False where the kernel does not offer it."""
    try:
        return int(ll.libc().prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except OSError:
        return False


def signal_on_parent_death(signum: int) -> None:
    """The kernel sends `signum` to this process when the thread that started it ends."""
    ll.libc().prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0)


def kill_descendants(rounds: int = 50) -> int:
    """SIGKILL every descendant of this process and reap them; returns how many were killed.

    Meant for a process that is a subreaper and supervises one run: whatever it still has
    below it once the run ended is the run's. Repeats while processes keep appearing (one
    may fork while the others are killed).
    """
    killed = 0
    me = os.getpid()
    for _ in range(rounds):
        found = descendants(me)
        if found is None:
            return killed + _kill_descendants_psutil(rounds)
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
                killed += 1
        _reap()
        time.sleep(0.01)
    _reap()
    return killed


def descendants(pid: int) -> list[int] | None:
    """The pids below `pid` (None where the kernel does not list a thread's children).

    Read from /proc/PID/task/TID/children: only the tree's own processes are read, where
    psutil's `children` reads every process of the machine. A snapshot, like any: a process
    that starts or ends meanwhile may be missed or still listed."""
    if not _lists_children():
        return None
    found: list[int] = []
    parents = [pid]
    while parents:
        parent = parents.pop()
        try:
            threads = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue  # gone
        for tid in threads:
            try:
                with open(f"/proc/{parent}/task/{tid}/children", "rb") as f:
                    children = [int(p) for p in f.read().split()]
            except (OSError, ValueError):
                continue  # the thread ended
            found.extend(children)
            parents.extend(children)
    return found


_CHILDREN_LISTED: list[bool] = []


def _lists_children() -> bool:
    if not _CHILDREN_LISTED:
        me = os.getpid()
        _CHILDREN_LISTED.append(os.path.exists(f"/proc/{me}/task/{me}/children"))
    return _CHILDREN_LISTED[0]


def _kill_descendants_psutil(rounds: int) -> int:
    import psutil

    killed = 0
    me = psutil.Process()
    for _ in range(rounds):
        try:
            found = me.children(recursive=True)
        except psutil.Error:
            break
        if not found:
            break
        for proc in found:
            with contextlib.suppress(psutil.Error, PermissionError):
                proc.send_signal(signal.SIGKILL)
                killed += 1
        _reap()
        time.sleep(0.01)
    _reap()
    return killed


def _reap() -> None:
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
