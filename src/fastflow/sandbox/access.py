"""Unix permissions from the run user's side: can it reach a path, which Python can it start.

When fastflow runs as root its runs become another user (`nobody`), who must be able to walk
to the run's folders and execute the environment's interpreter. A folder on the way that
only root may enter (`/root` is 0700) would fail every run with a bare "permission denied";
these checks find it first and name it.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from fastflow.sandbox.status import RunUser


def blocking_folder(path: Path, user: RunUser) -> Path | None:
    """The first folder on the way to `path` that `user` may not enter, else None."""
    real = Path(os.path.realpath(path))
    for folder in [*reversed(real.parents), real]:
        try:
            st = folder.stat()
        except OSError:
            return None  # not there (yet): created by the server, with the right modes
        if not stat.S_ISDIR(st.st_mode):
            continue
        if st.st_uid == user.uid:
            bit = stat.S_IXUSR
        elif st.st_gid == user.gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            return folder
    return None


def _candidates() -> list[Path]:
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    found = [Path(sys.executable), Path(getattr(sys, "_base_executable", sys.executable))]
    found += [Path(d) / version for d in ("/usr/local/bin", "/usr/bin", "/opt/python/bin")]
    return found


def python_for(user: RunUser | None) -> tuple[Path, str]:
    """The interpreter pipeline environments are built on: fastflow's own when `user` can
    start it, else another one of the same version it can; (path, why it was chosen)."""
    own = Path(sys.executable)
    if user is None:
        return own, ""
    for candidate in _candidates():
        real = Path(os.path.realpath(candidate))
        if real.exists() and blocking_folder(real.parent, user) is None:
            if candidate == own:
                return own, ""
            blocked = blocking_folder(Path(os.path.realpath(own)).parent, user)
            return candidate, (
                f"pipeline environments use {candidate}: the run user {user.name} cannot "
                f"enter {blocked}, where fastflow's own Python lives"
            )
    blocked = blocking_folder(Path(os.path.realpath(own)).parent, user)
    return own, (
        f"the run user {user.name} cannot enter {blocked}, where fastflow's Python lives, and "
        f"no other Python {sys.version_info[0]}.{sys.version_info[1]} was found: runs will "
        "fail to start; install Python where other users can read it"
    )


def share_tree(root: Path) -> None:
    """Let other users read `root` and everything below (folders: enter and list).

    For what a run of another user must read and the server writes with umask 077:
    a pipeline's code unpacked from a bundle or an upload."""
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)  # noqa: S103  (code a run of another user must read)
        for name in files:
            path = os.path.join(folder, name)
            if not os.path.islink(path):
                mode = os.stat(path).st_mode
                os.chmod(path, mode | 0o444 | (0o111 if mode & 0o100 else 0))
        del dirs  # walked by os.walk
