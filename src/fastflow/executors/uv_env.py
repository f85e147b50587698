"""Pipeline environments built with uv, once per dependency fingerprint, reused by later runs.

`uv run` resolves a script's environment on every call, which costs 60-110 ms here — more
than a small script takes. fastflow builds the environment once (uv venv + uv pip install,
into the shared uv cache), keyed by a hash of the requirements, and later runs start that
environment's interpreter directly.
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from fastflow.pipelines.discovery import PipelineDefinition
from fastflow.sandbox.access import share_tree

_READY = ".fastflow-ready"

OutputSink = Callable[[bytes], None]
# How environments are built (with compiled bytecode); part of their key, so that one built
# the older way is built again rather than reused.
_LAYOUT = b"compiled-bytecode"


class SetupError(Exception):
    """Dependency installation failed; the message says which step."""


@dataclass(frozen=True)
class Environment:
    python: Path
    setup_duration: float
    reused: bool


def find_uv() -> str:
    """The uv binary shipped with fastflow's own installation, else the one on PATH."""
    try:
        from uv import find_uv_bin

        return str(find_uv_bin())
    except (ImportError, FileNotFoundError):
        found = shutil.which("uv")
        if found is None:
            raise SetupError("uv is not installed; install it with 'pip install uv'") from None
        return found


class EnvironmentCache:
    """Builds and reuses per-fingerprint virtual environments under `envs_dir`."""

    def __init__(
        self,
        envs_dir: Path,
        uv_cache_dir: Path,
        uv_bin: str | None = None,
        base_python: Path | None = None,
        uv_version: str | None = None,
    ) -> None:
        """`base_python`: the interpreter environments are built on (default: fastflow's own;
        another one when the runs' OS user cannot start fastflow's). `uv_version`: known
        already (a worker asks `uv --version` once, not for every run)."""
        self.envs_dir = envs_dir
        self.uv_cache_dir = uv_cache_dir
        self.base_python = str(base_python or sys.executable)
        self._version: str | None = None
        self.uv_bin = uv_bin or find_uv()
        self._locks: dict[str, asyncio.Lock] = {}
        self._uv_version: str | None = uv_version

    async def uv_version(self) -> str:
        if self._uv_version is None:
            proc = await asyncio.create_subprocess_exec(
                self.uv_bin, "--version", stdout=asyncio.subprocess.PIPE
            )
            out, _ = await proc.communicate()
            self._uv_version = _parse_version(out)
        return self._uv_version

    def key(self, pipeline: PipelineDefinition) -> str:
        h = hashlib.sha256(pipeline.dependencies_fingerprint().encode())
        h.update(_LAYOUT)
        h.update(f"{sys.version_info[:3]}".encode())
        if self.base_python != sys.executable:
            h.update(self.base_python.encode())
        return h.hexdigest()[:24]

    def path_for(self, pipeline: PipelineDefinition) -> Path:
        return self.envs_dir / self.key(pipeline)

    def is_ready(self, pipeline: PipelineDefinition) -> bool:
        """True when the environment for the pipeline's current requirements is built."""
        return (self.path_for(pipeline) / _READY).exists()

    async def ensure(self, pipeline: PipelineDefinition, output: OutputSink) -> Environment:
        """The pipeline's environment, built now if no earlier run built it."""
        target = self.path_for(pipeline)
        python = target / "bin" / "python"
        if (target / _READY).exists():
            return Environment(python, 0.0, reused=True)
        lock = self._locks.setdefault(target.name, asyncio.Lock())
        async with lock:
            if (target / _READY).exists():
                return Environment(python, 0.0, reused=True)
            start = time.monotonic()
            await asyncio.to_thread(_make_shared_dir, self.envs_dir)
            lock_fd = await asyncio.to_thread(_lock_file, self.envs_dir / f"{target.name}.lock")
            try:
                if not (target / _READY).exists():
                    await self._build(pipeline, target, output)
            finally:
                os.close(lock_fd)
            return Environment(python, time.monotonic() - start, reused=False)

    async def _build(self, pipeline: PipelineDefinition, target: Path, output: OutputSink) -> None:
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(target, ignore_errors=True)
        py_spec = await asyncio.to_thread(self._python_for, pipeline)
        await self._uv(
            ["venv", "--quiet", "--relocatable", "--python", py_spec, str(tmp)],
            output,
            "create venv",
        )
        install: list[str] = []
        if pipeline.requirements_file is not None:
            install += ["-r", str(pipeline.requirements_file)]
        if pipeline.inline is not None:
            install += pipeline.inline.dependencies
        if install:
            python = str(tmp / "bin" / "python")
            await self._uv(
                # Bytecode compiled now: the runs' OS user cannot write it into the
                # environment, so otherwise every run would compile every import again.
                ["pip", "install", "--compile-bytecode", "--python", python, *install],
                output,
                "install dependencies",
            )
        (tmp / _READY).write_text(pipeline.dependencies_fingerprint())
        # Read by runs, which may be another OS user, while the server's umask is 077.
        await asyncio.to_thread(share_tree, tmp)
        # A relocatable venv (relative entry-point shebangs) survives the atomic rename.
        tmp.rename(target)

    def _python_for(self, pipeline: PipelineDefinition) -> str:
        """The base interpreter when it satisfies the pipeline's `requires-python` (it is the
        one the runs' OS user can start), else the requirement for uv to find one."""
        wanted = pipeline.inline.requires_python if pipeline.inline else None
        if not wanted:
            return self.base_python
        try:
            if SpecifierSet(wanted).contains(self._base_version(), prereleases=True):
                return self.base_python
        except InvalidSpecifier:
            pass  # uv says what is wrong with it
        return wanted

    def _base_version(self) -> str:
        if self._version is None:
            if self.base_python == sys.executable:
                self._version = platform.python_version()
            else:
                done = subprocess.run(
                    [self.base_python, "-c", "import platform; print(platform.python_version())"],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                self._version = done.stdout.strip() or "0"
        return self._version

    async def _uv(self, args: list[str], output: OutputSink, step: str) -> None:
        env = {**os.environ, "UV_CACHE_DIR": str(self.uv_cache_dir), "NO_COLOR": "1"}
        env.pop("VIRTUAL_ENV", None)
        proc = await asyncio.create_subprocess_exec(
            self.uv_bin,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
        )
        assert proc.stdout is not None
        await _pump(proc.stdout.read, output)
        code = await proc.wait()
        if code != 0:
            raise SetupError(f"uv failed to {step} (exit code {code})")


def uv_version_of(uv_bin: str) -> str:
    """`uv --version`'s number, asked now (blocking)."""
    done = subprocess.run([uv_bin, "--version"], capture_output=True, check=False)
    return _parse_version(done.stdout)


def _parse_version(out: bytes) -> str:
    # "uv 0.13.9 (x86_64-unknown-linux-gnu)" → "0.13.9"
    parts = out.decode(errors="replace").split()
    return parts[1] if len(parts) > 1 else "unknown"


async def _pump(read: Callable[[int], Awaitable[bytes]], output: OutputSink) -> None:
    while chunk := await read(65536):
        output(chunk)


def _make_shared_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)  # noqa: S103  (environments are read by the runs' OS user)


def _lock_file(path: Path) -> int:
    """An exclusive lock across processes (two servers or workers building one env)."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd
