"""Runs cannot reach the server: real runs, a real kernel sandbox, real attacks.

Each attack is checked from both sides: the run is denied, and the test process (the server's
user) can read the same file, so a denial is the sandbox's doing and not a missing file.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastflow.sandbox.landlock import abi_version
from fastflow.sandbox.status import SandboxMode, probe
from fastflow.services import build_services
from fastflow.settings import Settings
from tests.support.git import git
from tests.support.intruder import INTRUDER, gone, wait_gone, write_intruder
from tests.support.server import (
    ADMIN_PASSWORD,
    LiveServer,
    Served,
    outside_env,
    start_server,
    wait_for_run,
)
from tests.support.services import service_missing

ABI, WHY_NOT = abi_version()


@pytest.fixture(autouse=True)
def _needs_landlock() -> None:
    """Fails in CI, skips elsewhere, where the kernel has no Landlock."""
    if ABI == 0:
        service_missing("Landlock", WHY_NOT)


KEYS = ("secret_key", "encryption_key", "worker_token", "hook_key")

VICTIM = """
import os
open("secret.txt", "w").write("victim's secret")
print("victim's log line", flush=True)
"""


def _start(client: httpx.Client, pipeline: str, probe_: dict[str, Any]) -> dict[str, Any]:
    r = client.post(
        f"/api/pipelines/{pipeline}/run", json={"parameters": {"PROBE": json.dumps(probe_)}}
    )
    assert r.status_code == 202, r.text
    return dict(r.json())


def _report(client: httpx.Client, run_id: str) -> dict[str, Any]:
    text = client.get(f"/api/runs/{run_id}/logs").text
    lines = [line for line in text.splitlines() if line.startswith("REPORT ")]
    assert lines, text
    return dict(json.loads(lines[0][len("REPORT ") :]))


def _readable_by_us(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            f.read(16)
        return True
    except OSError:
        return False


@pytest.fixture
def sandboxed(server: LiveServer, client: httpx.Client, pipelines_dir: Path) -> LiveServer:
    health = client.get("/health").json()
    assert health["sandbox"]["sandboxed"] is True, health
    write_intruder(pipelines_dir)
    (pipelines_dir / "victim.py").write_text(VICTIM)
    return server


def test_a_pipeline_cannot_reach_the_server_or_other_runs_but_does_its_own_work(
    sandboxed: LiveServer, client: httpx.Client, settings: Settings, pipelines_dir: Path
) -> None:
    victim = client.post("/api/pipelines/victim/run", json={}).json()
    assert wait_for_run(client, victim["id"])["status"] == "SUCCESS"
    data, logs = settings.data_dir, settings.logs_dir
    secrets = [str(data / k) for k in KEYS]
    db = settings.sqlalchemy_url.startswith("sqlite")
    if db:
        secrets += [str(data / "fastflow.db")]
    others = [
        str(logs / f"{victim['id']}.log"),
        str(data / "runs" / victim["id"] / "work" / "secret.txt"),
        f"/proc/{os.getpid()}/environ",  # the server (this test process)
        f"/proc/{os.getpid()}/maps",
    ]
    for path in secrets + others:
        assert _readable_by_us(path), path  # the files are there: a denial is the sandbox's
    probe_ = {
        "read": secrets + others,
        "list": [str(data), str(logs), str(data / "runs"), str(pipelines_dir)],
        "write": [
            str(pipelines_dir),
            str(pipelines_dir / "hello"),
            str(pipelines_dir / "intruder"),
        ],
        "write_env": True,
    }
    run = _start(client, "intruder", probe_)
    done = wait_for_run(client, run["id"], timeout=120)
    report = _report(client, run["id"])
    # Every attempt failed.
    allowed = {p: r for p, r in report["read"].items() if r == "ok"}
    assert not allowed, f"the run read {allowed}"
    assert all(r != "ok" for r in report["list"].values()), report["list"]
    assert all(r != "ok" for r in report["write"].values()), report["write"]
    assert len(report["write"]) == 5  # PIPELINES_DIR, two pipelines, interpreter, site-packages
    assert not (pipelines_dir / "intruder.txt").exists()
    # ... and its own work was done: packages, work dir, TMPDIR, artifacts, output, exit code.
    assert report["imported"] == "tabulate"
    assert report["mp_lock"] == "ok"
    assert report["tmp"] == "ok"
    assert report["tmpdir"] == str(data / "runs" / run["id"] / "tmp")
    assert (data / "runs" / run["id"] / "work" / "work.txt").read_text() == "work"
    assert done["status"] == "FAILED" and done["exit_code"] == 7, done
    names = [a["path"] for a in client.get(f"/api/runs/{run['id']}/artifacts").json()]
    assert names == ["result.txt"]
    # The private temporary folder went with the run.
    assert not (data / "runs" / run["id"] / "tmp").exists()
    if os.geteuid() == 0:
        assert report["uid"] == 65534  # `nobody`, not root


def test_a_build_upload_cannot_read_the_servers_keys(
    sandboxed: LiveServer, client: httpx.Client, settings: Settings
) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("main.py", INTRUDER)
        z.writestr("requirements.txt", "tabulate==0.9.0\n")
    keys = [str(settings.data_dir / k) for k in KEYS]
    probe_ = {
        "read": keys,
        "list": [str(settings.data_dir / "uploads")],
        "write": [str(settings.pipelines_dir)],
        "daemon": True,
    }
    r = client.post(
        "/api/builds",
        files={"file": ("upload.zip", buf.getvalue())},
        data={"name": "upload", "parameters": json.dumps({"PROBE": json.dumps(probe_)})},
    )
    assert r.status_code == 202, r.text
    build = r.json()
    done = wait_for_run(client, build["run_id"], timeout=120)
    report = _report(client, build["run_id"])
    assert done["exit_code"] == 7
    assert {p: r for p, r in report["read"].items() if p in keys} == dict.fromkeys(
        keys, "PermissionError"
    )
    assert list(report["list"].values()) == ["PermissionError"]
    assert list(report["write"].values()) == ["PermissionError"]
    wait_gone(report["daemon_pid"], "the upload's daemon outlived its run")


def test_nothing_a_run_starts_outlives_it(sandboxed: LiveServer, client: httpx.Client) -> None:
    run = _start(client, "intruder", {"daemon": True})
    wait_for_run(client, run["id"], timeout=120)
    pid = _report(client, run["id"])["daemon_pid"]
    wait_gone(pid, "the run's double-forked, setsid daemon outlived the run")
    assert "process(es) the run left running" in client.get(f"/api/runs/{run['id']}/logs").text


def test_nothing_a_run_starts_outlives_a_cancel(
    sandboxed: LiveServer, client: httpx.Client
) -> None:
    run = _start(client, "intruder", {"daemon": True, "sleep": 120})
    deadline = time.monotonic() + 120
    while "REPORT " not in client.get(f"/api/runs/{run['id']}/logs").text:
        assert time.monotonic() < deadline, "the run never reported"
        time.sleep(0.1)
    pid = _report(client, run["id"])["daemon_pid"]
    assert not gone(pid)
    assert client.post(f"/api/runs/{run['id']}/cancel").status_code in (200, 202)
    assert wait_for_run(client, run["id"])["status"] == "CANCELLED"
    wait_gone(pid, "the run's daemon outlived the cancel")


def test_nothing_a_run_starts_outlives_its_timeout(
    sandboxed: LiveServer, client: httpx.Client, pipelines_dir: Path
) -> None:
    write_intruder(pipelines_dir, "hasty", timeout=8)
    run = _start(client, "hasty", {"daemon": True, "sleep": 120})
    assert wait_for_run(client, run["id"], timeout=120)["status"] == "TIMED_OUT"
    pid = _report(client, run["id"])["daemon_pid"]
    wait_gone(pid, "the run's daemon outlived the timeout")


def test_network_false_takes_tcp_away_but_the_run_still_writes_its_outputs(
    sandboxed: LiveServer, client: httpx.Client, pipelines_dir: Path
) -> None:
    write_intruder(pipelines_dir, "offline", network=False)
    port = sandboxed.url.rsplit(":", 1)[1]
    connect = {"connect": f"127.0.0.1:{port}", "bind": True}
    online = _start(client, "intruder", connect)
    offline = _start(client, "offline", connect)
    for run in (online, offline):
        assert wait_for_run(client, run["id"], timeout=120)["exit_code"] == 7
    on, off = _report(client, online["id"]), _report(client, offline["id"])
    assert (on["connect"], on["bind"]) == ("ok", "ok")
    assert (off["connect"], off["bind"]) == ("PermissionError", "PermissionError")
    names = [a["path"] for a in client.get(f"/api/runs/{offline['id']}/artifacts").json()]
    assert names == ["result.txt"]


def test_required_refuses_runs_on_a_kernel_without_landlock(
    make_settings: Callable[..., Settings], pipelines_dir: Path
) -> None:
    settings = make_settings(FASTFLOW_SANDBOX="required")
    # The seam: a probe that reports what a kernel without Landlock answers.
    status = probe(SandboxMode.REQUIRED, abi_probe=lambda: (0, "the kernel has no Landlock"))
    live = start_server(settings, services=build_services(settings, sandbox=status))
    try:
        with live.client() as client:
            health = client.get("/health").json()["sandbox"]
            assert (health["mode"], health["sandboxed"]) == ("required", False)
            run = client.post("/api/pipelines/hello/run", json={}).json()
            done = wait_for_run(client, run["id"])
            assert done["status"] == "FAILED"
            assert "FASTFLOW_SANDBOX=required" in done["error_message"]
            assert "the kernel has no Landlock" in done["error_message"]
    finally:
        live.stop()


@pytest.fixture
def unsandboxed(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    live = start_server(make_settings(FASTFLOW_SANDBOX="off"))
    yield live
    live.stop()


def test_off_runs_as_the_server_and_says_so(
    unsandboxed: LiveServer, pipelines_dir: Path, settings: Settings
) -> None:
    with unsandboxed.client() as client:
        health = client.get("/health").json()["sandbox"]
        assert (health["mode"], health["sandboxed"]) == ("off", False)
        assert "NOT sandboxed" in health["detail"]
        write_intruder(pipelines_dir)
        key = str(unsandboxed.settings.data_dir / "secret_key")
        run = _start(client, "intruder", {"read": [key]})
        wait_for_run(client, run["id"], timeout=120)
        # The demonstration of what the sandbox prevents: unconfined, the key is readable.
        assert _report(client, run["id"])["read"][key] == "ok"


def test_a_run_cannot_signal_processes_outside_it(
    sandboxed: LiveServer, client: httpx.Client
) -> None:
    """A run of the server's own user cannot kill the server's processes (Landlock scopes
    signals from ABI 6; a run of another user is stopped by the kernel's uid check)."""
    if ABI < 6 and os.geteuid() != 0:
        pytest.skip(f"signal scoping needs Landlock ABI 6; this kernel has {ABI}")
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        code = f"import os, signal\nos.kill({bystander.pid}, signal.SIGKILL)\n"
        (Path(sandboxed.settings.pipelines_dir) / "signaller.py").write_text(code)
        run = client.post("/api/pipelines/signaller/run", json={}).json()
        done = wait_for_run(client, run["id"])
        assert done["status"] == "FAILED"
        assert "PermissionError" in client.get(f"/api/runs/{run['id']}/logs").text
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


def test_the_servers_files_are_readable_by_the_server_only(
    tmp_path: Path, pipelines_dir: Path, uv_cache: Path
) -> None:
    """`fastflow serve` (a real process) creates its database, WAL, keys, logs and metrics
    with no access for anyone else; only what runs must read (environments, pipeline code
    unpacked from uploads) is shared."""
    data, logs = tmp_path / "data", tmp_path / "logs"
    env = outside_env(
        PIPELINES_DIR=str(pipelines_dir),
        DATA_DIR=str(data),
        LOGS_DIR=str(logs),
        UV_CACHE_DIR=str(uv_cache),
        FASTFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
        FASTFLOW_UI="false",
    )
    served = Served(tmp_path, env)
    try:
        with served.client() as client:
            run = client.post("/api/pipelines/hello/run", json={}).json()
            assert wait_for_run(client, run["id"])["status"] == "SUCCESS"
    finally:
        served.stop()
    shared = {data / "envs", data / "runs", data / "uploads"}
    checked = []
    for root in (data, logs):
        for path in root.rglob("*"):
            if any(path == s or s in path.parents for s in shared) or not path.is_file():
                continue
            checked.append(path.name)
            assert path.stat().st_mode & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"
    for name in (*KEYS, "fastflow.db", f"{run['id']}.log", f"{run['id']}_metrics.jsonl"):
        assert name in checked
    for folder in (data, logs):
        assert folder.stat().st_mode & 0o066 == 0  # nobody else may list them


def test_code_git_sync_brings_is_readable_by_the_run_user(tmp_path: Path, uv_cache: Path) -> None:
    """A real `fastflow serve` (umask 077) syncs a new pipeline; its run (as `nobody` when
    the tests run as root) can read the code git wrote."""
    remote, dev, checkout = tmp_path / "remote.git", tmp_path / "dev", tmp_path / "pipelines"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(dev)], check=True)
    git(dev, "checkout", "-q", "-b", "main")
    (dev / "first.py").write_text("print('first')\n")
    git(dev, "add", "-A")
    git(dev, "commit", "-qm", "first")
    git(dev, "push", "-q", "origin", "HEAD:main")
    subprocess.run(["git", "clone", "-q", str(remote), str(checkout)], check=True)
    env = outside_env(
        PIPELINES_DIR=str(checkout),
        DATA_DIR=str(tmp_path / "data"),
        LOGS_DIR=str(tmp_path / "logs"),
        UV_CACHE_DIR=str(uv_cache),
        FASTFLOW_ADMIN_PASSWORD=ADMIN_PASSWORD,
        FASTFLOW_UI="false",
    )
    served = Served(tmp_path, env)
    try:
        (dev / "synced").mkdir()
        (dev / "synced" / "main.py").write_text("print('synced code runs')\n")
        git(dev, "add", "-A")
        git(dev, "commit", "-qm", "synced")
        git(dev, "push", "-q", "origin", "HEAD:main")
        with served.client() as client:
            assert client.post("/api/sync").status_code == 200
            run = client.post("/api/pipelines/synced/run", json={}).json()
            done = wait_for_run(client, run["id"])
            text = client.get(f"/api/runs/{run['id']}/logs").text
            assert done["status"] == "SUCCESS", text
            assert "synced code runs" in text
    finally:
        served.stop()
