"""A test host of its own: a network namespace joined to this one by a veth pair.

`NetnsHost` makes `ffns-<id>` with `ffn-<id>` inside (10.201.X.Y+2/30) and `ffh-<id>` here
(…+1/30); nothing else is routed, so a process inside reaches only what listens on the
host-side address. `command(...)` runs a program inside with a private mount namespace in
which the given folders are covered by an empty read-only tmpfs: the "other machine" cannot
see the server's files. Needs root and iproute2; without them the tests skip (fail in CI).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import subprocess
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

from tests.support.services import service_missing

# Covers each folder named before `--` with an empty read-only tmpfs, then runs the rest.
_HIDE_AND_EXEC = (
    'while [ "$1" != -- ]; do mount -t tmpfs -o ro,size=16k fastflow-hidden "$1" || exit 97; '
    'shift; done; shift; exec "$@"'
)


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def netns_missing() -> str | None:
    """Why this machine cannot make a namespace host, or None when it can."""
    if shutil.which("ip") is None:
        return "the `ip` command (iproute2) is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root"
    return None


class NetnsHost:
    """A network namespace with a veth link to this host; `close()` removes both."""

    def __init__(self) -> None:
        why = netns_missing()
        if why is not None:
            service_missing("a network-namespace test host", why)
        tag = uuid.uuid4().hex[:8]
        self.name = f"ffns-{tag}"
        self.host_if = f"ffh-{tag}"
        self.ns_if = f"ffn-{tag}"
        self.host_addr, self.ns_addr = _free_subnet()
        try:
            _ip("netns", "add", self.name)
            _ip("link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _ip("link", "set", self.ns_if, "netns", self.name)
            _ip("addr", "add", f"{self.host_addr}/30", "dev", self.host_if)
            _ip("link", "set", self.host_if, "up")
            _ip("-n", self.name, "addr", "add", f"{self.ns_addr}/30", "dev", self.ns_if)
            _ip("-n", self.name, "link", "set", self.ns_if, "up")
            _ip("-n", self.name, "link", "set", "lo", "up")
        except Exception as exc:
            self.close()
            service_missing("a network-namespace test host", exc)

    def command(self, argv: Sequence[str], hide: Sequence[Path] = ()) -> list[str]:
        """`argv` to run inside the namespace, with the folders in `hide` invisible to it.

        `ip netns exec` gives the program its own mount namespace, so the tmpfs mounts
        never show outside it.
        """
        return [
            "ip", "netns", "exec", self.name,
            "sh", "-c", _HIDE_AND_EXEC, "sh", *map(str, hide), "--", *argv,
        ]  # fmt: skip

    def run(
        self, argv: Sequence[str], hide: Sequence[Path] = ()
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(argv, hide), capture_output=True, text=True, timeout=60, check=False
        )

    def close(self) -> None:
        """Remove the namespace and the link (idempotent; processes inside must be gone)."""
        with contextlib.suppress(RuntimeError):
            _ip("netns", "del", self.name)
        # Deleting the namespace deletes the peer and with it the pair; make sure anyway.
        with contextlib.suppress(RuntimeError):
            _ip("link", "del", self.host_if)


def _free_subnet() -> tuple[str, str]:
    """Host and namespace addresses of a 10.201.X.Y/30 no interface here uses yet."""
    used = _ip("-4", "-o", "addr")
    for _ in range(100):
        x, y = random.randrange(256), random.randrange(0, 256, 4)
        if f"10.201.{x}." not in used:
            return f"10.201.{x}.{y + 1}", f"10.201.{x}.{y + 2}"
    raise RuntimeError("no free 10.201.X.0/30 subnet")


@contextlib.contextmanager
def netns_host() -> Iterator[NetnsHost]:
    host = NetnsHost()
    try:
        yield host
    finally:
        host.close()
