"""A server for the original requests' clients: one pipeline that builds like their builds do
(a log line at a time, progress, an artifact, an optional failure), CORS for one frontend."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fastflow.settings import load_settings
from tests.support.server import ADMIN_PASSWORD, ADMIN_USER, LiveServer, start_server
from tests.support.services import SqliteTemplate, passable_temp

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "pipelines"

APP_BUILD = '''\
"""Builds like an app build: waits for GATE (when given), prints LINES lines with progress,
fails when FAIL is set, else writes app-release.apk into the artifacts folder."""
import os
import sys
import time
from pathlib import Path

gate = os.environ.get("GATE")
if gate:
    deadline = time.monotonic() + 60
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
lines = int(os.environ.get("LINES", "40"))
pause = float(os.environ.get("PAUSE", "0"))
print(f"Starting {os.environ.get('BUILD_TYPE', 'default')} build...", flush=True)
for i in range(1, lines + 1):
    print(f"line {i}", flush=True)
    if i % 10 == 0:
        print(f"::progress {i * 90 // lines} compiling", flush=True)
        time.sleep(pause)
if os.environ.get("FAIL"):
    print("Build failed: missing dependencies", file=sys.stderr)
    sys.exit(3)
out = Path(os.environ["FASTFLOW_ARTIFACTS_DIR"])
(out / "app-release.apk").write_bytes(b"apk")
(out / "web").mkdir()
(out / "web" / "index.html").write_text("<h1>app</h1>")
print("Build completed successfully")
'''


def compat_server(
    factory: pytest.TempPathFactory, name: str, uv_cache: Path, **overrides: Any
) -> Iterator[LiveServer]:
    """A fastflow server (SQLite) with the example pipelines and `app_build`."""
    root = passable_temp(factory, name)
    db = SqliteTemplate(root / "tmpl").clone(root / "data" / "fastflow.db")
    shutil.copytree(EXAMPLES, root / "pipelines")
    (root / "pipelines" / "app_build.py").write_text(APP_BUILD)
    values: dict[str, Any] = {
        "DATABASE_URL": db,
        "PIPELINES_DIR": str(root / "pipelines"),
        "DATA_DIR": str(root / "data"),
        "LOGS_DIR": str(root / "logs"),
        "UV_CACHE_DIR": str(uv_cache),
        "FASTFLOW_ADMIN_USER": ADMIN_USER,
        "FASTFLOW_ADMIN_PASSWORD": ADMIN_PASSWORD,
        "FASTFLOW_UI": False,
        "FASTFLOW_METRICS_INTERVAL": 5,
    }
    values.update(overrides)
    live = start_server(load_settings(_env_file=None, **values))
    yield live
    live.stop()
