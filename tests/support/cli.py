"""The real `fastflow` command as a subprocess against a real server, as a user types it.

One server per test module (in this process, on a free port) over a copy of the example and
test pipelines; each command runs `.venv/bin/fastflow` with a private XDG_CONFIG_HOME, so a
login never touches the developer's own profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastflow.settings import load_settings
from tests.support.server import (
    ADMIN_PASSWORD,
    ADMIN_USER,
    FASTFLOW_BIN,
    LiveServer,
    start_server,
)
from tests.support.services import SqliteTemplate, passable_temp

ROOT = Path(__file__).resolve().parents[2]


def cli_server(
    factory: pytest.TempPathFactory, name: str, pipelines: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """A module's server: examples, test pipelines and `pipelines` (file name → source)."""
    root = passable_temp(factory, name)
    shutil.copytree(ROOT / "examples" / "pipelines", root / "pipelines")
    shutil.copytree(
        ROOT / "tests" / "fixtures" / "pipelines", root / "pipelines", dirs_exist_ok=True
    )
    for file, source in (pipelines or {}).items():
        (root / "pipelines" / file).write_text(source)
    db = SqliteTemplate(root / "tmpl").clone(root / "data" / "fastflow.db")
    live = start_server(
        load_settings(
            _env_file=None,
            DATABASE_URL=db,
            PIPELINES_DIR=str(root / "pipelines"),
            DATA_DIR=str(root / "data"),
            LOGS_DIR=str(root / "logs"),
            UV_CACHE_DIR=str(root / "uv-cache"),
            FASTFLOW_ADMIN_USER=ADMIN_USER,
            FASTFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
            FASTFLOW_CANCEL_GRACE_SECONDS=2,
            FASTFLOW_UI=False,
        )
    )
    yield live
    live.stop()


def cli_env(config: Path, **values: str) -> dict[str, str]:
    """The environment of a person's shell: no fastflow settings, a config folder of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FASTFLOW_", "DATABASE"))}
    env.pop("NO_COLOR", None)
    env["XDG_CONFIG_HOME"] = str(config)
    env.update(values)
    return env


def fastflow(
    *args: str,
    env: dict[str, str],
    stdin: str | None = None,
    merge: bool = False,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run `fastflow ARGS`; `merge`: stderr into stdout, one pipe, as `2>&1 | less` sees it."""
    return subprocess.run(
        [str(FASTFLOW_BIN), *args],
        input=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merge else subprocess.PIPE,
        text=True,
        env=env,
        timeout=timeout,
    )
