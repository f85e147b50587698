"""fastflow as users install it: the built wheel, alone in a fresh virtual environment.

The wheel is built once per test session with `uv build`; each install resolves from the
package index like a user's `pip install`, constrained to the versions in uv.lock so the
tests see what CI locked (and uv's cache answers most of it: a second install takes seconds).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.services import service_missing

ROOT = Path(__file__).resolve().parents[2]
OPTIONAL = ("celery", "redis", "kombu", "boto3", "botocore", "docker", "psycopg")


def _uv() -> str:
    found = shutil.which("uv")
    if found is None:
        service_missing("uv", "not on PATH")
        raise AssertionError("unreachable")
    return found


def _run(*argv: str, cwd: Path = ROOT) -> str:
    outer = ("VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")
    env = {k: v for k, v in os.environ.items() if k not in outer}
    done = subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """fastflow's wheel, built from this checkout as a release would build it."""
    out = tmp_path_factory.mktemp("wheel")
    _run(_uv(), "build", "--wheel", "--quiet", "--out-dir", str(out))
    (built,) = out.glob("fastflow-*.whl")
    return built


@pytest.fixture(scope="session")
def lock_constraints(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """uv.lock's versions of every package, as pip constraints."""
    path = tmp_path_factory.mktemp("constraints") / "constraints.txt"
    text = _run(
        _uv(), "export", "--frozen", "--all-extras", "--no-emit-project", "--no-hashes",
        "--no-header", "--no-annotate",
    )  # fmt: skip
    path.write_text(text)
    return path


@dataclass(frozen=True)
class Installed:
    """A virtual environment holding the wheel (with `extras`) and what it requires."""

    venv: Path
    extras: str

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"

    @property
    def fastflow(self) -> Path:
        return self.venv / "bin" / "fastflow"

    def importable(self, *modules: str) -> dict[str, bool]:
        code = (
            "import importlib.util, sys\n"
            "print(' '.join(str(importlib.util.find_spec(m) is not None) for m in sys.argv[1:]))"
        )
        out = _run(str(self.python), "-c", code, *modules)
        return dict(zip(modules, (word == "True" for word in out.split()), strict=True))


def install(wheel: Path, constraints: Path, folder: Path, extras: str = "") -> Installed:
    venv = folder / "venv"
    _run(_uv(), "venv", "--quiet", "--python", sys.executable, str(venv))
    target = f"fastflow[{extras}] @ {wheel.as_uri()}" if extras else str(wheel)
    _run(
        _uv(), "pip", "install", "--quiet", "--python", str(venv / "bin" / "python"),
        "--constraint", str(constraints), target,
    )  # fmt: skip
    return Installed(venv, extras)


@pytest.fixture(scope="module")
def base_install(
    wheel: Path, lock_constraints: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installed]:
    yield install(wheel, lock_constraints, tmp_path_factory.mktemp("base"))


@pytest.fixture(scope="module")
def celery_install(
    wheel: Path, lock_constraints: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installed]:
    yield install(wheel, lock_constraints, tmp_path_factory.mktemp("celery"), "celery")


@pytest.fixture(scope="module")
def all_install(
    wheel: Path, lock_constraints: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installed]:
    yield install(wheel, lock_constraints, tmp_path_factory.mktemp("all"), "all")
