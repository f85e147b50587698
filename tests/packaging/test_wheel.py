"""The built wheel, installed alone as a user installs it: lean by default, complete with
`[all]`, and in both cases a server that runs a pipeline and serves its pages offline."""

from __future__ import annotations

import re
import shutil
import subprocess
import uuid
import zipfile
from email.parser import Parser
from pathlib import Path

import httpx
import pytest
from packaging.requirements import Requirement

from tests.conftest import EXAMPLES, TEST_PIPELINES
from tests.packaging.conftest import OPTIONAL, Installed
from tests.support.server import ADMIN_PASSWORD, Served, outside_env, wait_for_run
from tests.support.services import PostgresTemplate, service_missing
from tests.support.workers import Worker, celery_overrides, clear_prefix, redis_or_skip

# Building and installing the wheel counts toward the first tests' timeouts.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

_ASSET = re.compile(r'<(?:script|link)\b[^>]*?\b(?:src|href)="([^"]+)"', re.IGNORECASE)


def _requirements(wheel: Path) -> list[Requirement]:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        metadata = Parser().parsestr(archive.read(name).decode())
    return [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]


def test_the_base_wheel_requires_no_optional_part(wheel: Path) -> None:
    requirements = _requirements(wheel)
    base = {r.name.lower() for r in requirements if r.marker is None}
    assert {"fastapi", "nicegui", "sqlmodel", "uv"} <= base, base
    assert not base & {"celery", "redis", "boto3", "docker", "psycopg"}, base
    by_extra: dict[str, set[str]] = {}
    for r in requirements:
        found = re.search(r'extra == "([a-z0-9-]+)"', str(r.marker or ""))
        if found:
            by_extra.setdefault(found.group(1), set()).add(r.name.lower())
    assert by_extra["postgres"] == {"psycopg"}
    assert by_extra["docker"] == {"docker"}
    assert by_extra["celery"] == {"celery", "redis"}
    assert by_extra["s3"] == {"boto3"}
    # The build may write `all` out as the union or as a reference to the others.
    assert by_extra["all"] in ({"fastflow"}, {"psycopg", "docker", "celery", "redis", "boto3"})


def _pipelines(folder: Path) -> Path:
    target = folder / "pipelines"
    shutil.copytree(EXAMPLES, target)
    shutil.copytree(TEST_PIPELINES / "docker_probe", target / "docker_probe")
    return target


def _env(folder: Path, **values: str) -> dict[str, str]:
    """A user's environment: nothing of this checkout's virtual environment."""
    env = outside_env(
        PIPELINES_DIR=str(_pipelines(folder)),
        DATA_DIR=str(folder / "data"),
        LOGS_DIR=str(folder / "logs"),
        FASTFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
        UV_PRE_HEAT="false",
        **values,
    )
    env.pop("VIRTUAL_ENV", None)
    return env


def _served_offline(served: Served, client: httpx.Client, path: str, signed: bool) -> None:
    """The page loads, and every script and stylesheet it names comes from this server."""
    page = client.get(path) if signed else httpx.get(f"{served.url}{path}")
    assert page.status_code == 200, (path, page.text[:500])
    assets = _ASSET.findall(page.text)
    assert assets, page.text[:2000]
    for asset in assets:
        assert asset.startswith("/") and not asset.startswith("//"), (path, asset)
        got = client.get(asset) if signed else httpx.get(f"{served.url}{asset}")
        assert got.status_code == 200 and got.content, (path, asset, got.status_code)


def _runs_and_serves(installed: Installed, folder: Path, **values: str) -> Served:
    served = Served(folder, _env(folder, **values), fastflow=installed.fastflow)
    try:
        with served.client() as client:
            run = client.post("/api/pipelines/hello/run", json={"parameters": {"NAME": "wheel"}})
            assert run.status_code == 202, run.text
            done = wait_for_run(client, run.json()["id"], timeout=180)
            assert done["status"] == "SUCCESS", done
            log = client.get(f"/api/runs/{done['id']}/logs/download").text
            assert "wheel" in log, log
            _served_offline(served, client, "/login", signed=False)
            _served_offline(served, client, "/docs", signed=True)
    except BaseException:
        served.stop()
        raise
    return served


def test_the_base_install_runs_the_embedded_default(
    base_install: Installed, tmp_path: Path
) -> None:
    present = base_install.importable(*OPTIONAL, "fastflow", "nicegui", "sqlmodel")
    assert not any(present[m] for m in OPTIONAL), present
    assert present["fastflow"] and present["nicegui"] and present["sqlmodel"]
    served = _runs_and_serves(base_install, tmp_path)
    try:
        with served.client() as client:
            # A pipeline asking for the docker executor fails with the install to do.
            run = client.post("/api/pipelines/docker_probe/run", json={"parameters": {}})
            assert run.status_code == 202, run.text
            done = wait_for_run(client, run.json()["id"])
            assert done["status"] == "FAILED", done
            assert "pip install 'fastflow[docker]'" in (done["error_message"] or ""), done
    finally:
        served.stop()


@pytest.mark.parametrize(
    ("values", "setting", "extra"),
    [
        ({"EXECUTOR": "docker"}, "EXECUTOR=docker", "docker"),
        ({"DISPATCHER": "celery"}, "DISPATCHER=celery", "celery"),
        ({"OBJECT_STORE": "s3", "S3_BUCKET": "b"}, "OBJECT_STORE=s3", "s3"),
        (
            {"DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/test"},
            "DATABASE_URL=postgresql://…",
            "postgres",
        ),
    ],
)
def test_the_base_install_names_the_missing_extra_in_one_line(
    base_install: Installed, tmp_path: Path, values: dict[str, str], setting: str, extra: str
) -> None:
    done = subprocess.run(
        [str(base_install.fastflow), "serve", "--port", "1"],
        env=_env(tmp_path, **values),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    line = f"{setting} needs the {extra} extra: pip install 'fastflow[{extra}]'"
    assert done.stderr.strip().splitlines() == [f"fastflow: {line}"], done.stderr


def test_a_worker_without_its_extras_says_which(base_install: Installed, tmp_path: Path) -> None:
    done = subprocess.run(
        [str(base_install.fastflow), "worker"],
        env=_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.strip().splitlines() == [
        "fastflow: fastflow worker needs the celery extra: pip install 'fastflow[celery]'"
    ]


def test_the_celery_extra_alone_dispatches_to_a_worker(
    celery_install: Installed, tmp_path: Path
) -> None:
    present = celery_install.importable(*OPTIONAL)
    assert {m for m, found in present.items() if found} == {"celery", "redis", "kombu"}, present
    client = redis_or_skip()
    prefix = f"ffwheel-{uuid.uuid4().hex[:10]}"
    values = {**celery_overrides(prefix), "WORKER_HEARTBEAT": "0.5", "WORKER_LOST_AFTER": "3"}
    served = Served(tmp_path, _env(tmp_path, **values), fastflow=celery_install.fastflow)
    worker = None
    try:
        worker = Worker(
            "wheel-worker", tmp_path / "worker", served.url, prefix, tmp_path / "uv-cache",
            fastflow=celery_install.fastflow,
        )  # fmt: skip
        worker.wait_ready(client, prefix)
        with served.client() as api:
            run = api.post("/api/pipelines/hello/run", json={"parameters": {"NAME": "celery"}})
            done = wait_for_run(api, run.json()["id"], timeout=180)
            assert done["status"] == "SUCCESS" and done["worker"] == "wheel-worker", done
            # Without the docker extra the worker fails a docker run with the install to do.
            run = api.post("/api/pipelines/docker_probe/run", json={"parameters": {}})
            done = wait_for_run(api, run.json()["id"], timeout=120)
            assert done["status"] == "FAILED", done
            assert "pip install 'fastflow[docker]'" in (done["error_message"] or ""), done
    finally:
        if worker is not None:
            worker.stop()
        served.stop()
        clear_prefix(client, prefix)
        client.close()


def test_the_all_install_runs_on_postgresql(
    all_install: Installed, tmp_path: Path, pg_template: PostgresTemplate | None
) -> None:
    present = all_install.importable(*OPTIONAL)
    assert all(present.values()), present
    if pg_template is None:
        service_missing("PostgreSQL", "connection refused")
        return
    url = pg_template.clone()
    try:
        _runs_and_serves(all_install, tmp_path, DATABASE_URL=url).stop()
    finally:
        pg_template.drop(url)
