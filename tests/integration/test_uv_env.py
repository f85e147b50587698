"""Environments are built with their bytecode compiled: the runs' OS user cannot write
`.pyc` files into them, so without it every run would compile every import again."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

from fastflow.executors.uv_env import EnvironmentCache
from fastflow.pipelines.discovery import load_definition


async def test_a_built_environment_holds_compiled_bytecode(tmp_path: Path, uv_cache: Path) -> None:
    folder = tmp_path / "pipelines" / "tab"
    folder.mkdir(parents=True)
    (folder / "main.py").write_text("import tabulate\n")
    (folder / "requirements.txt").write_text("tabulate==0.9.0\n")
    pipeline = load_definition("tab", folder)
    cache = EnvironmentCache(tmp_path / "envs", uv_cache)
    env = await cache.ensure(pipeline, lambda _: None)
    site = next((env.python.parent.parent / "lib").glob("python3*/site-packages"))
    compiled = sorted(p.name for p in (site / "tabulate" / "__pycache__").glob("*.pyc"))
    assert any(name.startswith("__init__.") for name in compiled), compiled
    # The bytecode is valid where the environment ended up (built elsewhere, then renamed):
    # the interpreter loads the module from it rather than compiling its source again.
    done = await asyncio.to_thread(
        subprocess.run,
        [str(env.python), "-B", "-v", "-c", "import tabulate"],
        capture_output=True,
        text=True,
        check=True,
    )
    pycache = site / "tabulate" / "__pycache__"
    assert f"code object from '{pycache}/__init__." in done.stderr, done.stderr[-2000:]
