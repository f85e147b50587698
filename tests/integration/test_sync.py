"""Git sync against real repositories the test makes: a bare remote, a developer clone, and
PIPELINES_DIR as a clone of the remote. Pre-heating builds into the real uv cache."""

from __future__ import annotations

import hashlib
import hmac
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastflow.settings import Settings
from tests.support.git import git
from tests.support.server import LiveServer, start_server, wait_for_run

HELLO = 'import os\nprint("hi from", os.environ.get("FASTFLOW_PIPELINE_NAME"))\n'


def commit(repo: Path, files: dict[str, str], message: str, push: str | None = "main") -> str:
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    if push:
        git(repo, "push", "-q", "origin", f"HEAD:{push}")
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repos(tmp_path: Path) -> dict[str, Path]:
    remote, dev, checkout = tmp_path / "remote.git", tmp_path / "dev", tmp_path / "checkout"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(remote)], check=True)
    subprocess.run(["git", "clone", "-q", str(remote), str(dev)], check=True)
    git(dev, "checkout", "-q", "-b", "main")
    commit(dev, {"first.py": HELLO}, "first pipeline")
    subprocess.run(["git", "clone", "-q", str(remote), str(checkout)], check=True)
    return {"remote": remote, "dev": dev, "checkout": checkout}


@pytest.fixture
def sync_server(
    make_settings: Callable[..., Settings], repos: dict[str, Path]
) -> Iterator[LiveServer]:
    live = start_server(make_settings(PIPELINES_DIR=str(repos["checkout"])))
    yield live
    live.stop()


def names(c: httpx.Client) -> set[str]:
    return {p["name"] for p in c.get("/api/pipelines").json()}


def test_sync_pulls_new_pipelines_and_reports_status(
    sync_server: LiveServer, repos: dict[str, Path]
) -> None:
    with sync_server.client() as c:
        assert names(c) == {"first"}
        head = commit(repos["dev"], {"second.py": HELLO}, "second pipeline")
        r = c.post("/api/sync")
        assert r.status_code == 200, r.text
        result = r.json()
        assert result["ok"] and result["changed"] and result["commit"] == head
        assert result["added_pipelines"] == ["second"]
        assert names(c) == {"first", "second"}
        status = c.get("/api/sync/status").json()
        assert status["branch"] == "main" and status["commit"] == head
        assert (status["ahead"], status["behind"]) == (0, 0)
        assert status["subject"] == "second pipeline"
        assert status["last_sync"]["ok"] and status["last_sync"]["commit"] == head
        run = c.post("/api/pipelines/second/run", json={}).json()
        assert wait_for_run(c, run["id"])["status"] == "SUCCESS"


def test_branch_switch_and_unknown_branch(sync_server: LiveServer, repos: dict[str, Path]) -> None:
    dev = repos["dev"]
    git(dev, "checkout", "-q", "-b", "feature")
    head = commit(dev, {"feat.py": HELLO}, "feature work", push="feature")
    with sync_server.client() as c:
        r = c.post("/api/sync", json={"branch": "feature"})
        assert r.status_code == 200, r.text
        assert c.get("/api/sync/status").json()["branch"] == "feature"
        assert r.json()["commit"] == head and "feat" in names(c)
        missing = c.post("/api/sync", json={"branch": "no-such-branch"})
        assert missing.status_code == 422 and "branch" in missing.json()["detail"]
        bad = c.post("/api/sync", json={"branch": "--upload-pack=evil"})
        assert bad.status_code == 422
        assert c.get("/api/sync/status").json()["branch"] == "feature"


def test_conflict_remote_wins_and_nothing_local_is_lost(
    sync_server: LiveServer, repos: dict[str, Path]
) -> None:
    checkout = repos["checkout"]
    local = commit(checkout, {"first.py": "print('local edit')\n"}, "local", push=None)
    remote_head = commit(
        repos["dev"], {"first.py": "print('remote edit')\n", "new.py": HELLO}, "remote"
    )
    (checkout / "first.py").write_text("print('uncommitted')\n")
    (checkout / "new.py").write_text("print('my untracked new.py')\n")  # the remote adds one
    (checkout / "notes.txt").write_text("untouched\n")  # untracked, in nobody's way
    with sync_server.client() as c:
        result = c.post("/api/sync").json()
        assert result["ok"] and result["commit"] == remote_head
        assert result["discarded_local_commits"] == 1
        assert result["kept_local_changes"] == ["first.py", "new.py"]
        ref = result["local_changes_ref"]
        assert ref.startswith("refs/fastflow/backup/") and ref.endswith("-changes")
        assert f"git stash apply {ref}" in result["output"]
        last = c.get("/api/sync/status").json()["last_sync"]
        assert last["local_changes_ref"] == ref
    assert (checkout / "first.py").read_text() == "print('remote edit')\n"
    assert (checkout / "notes.txt").read_text() == "untouched\n"
    backups = git(checkout, "for-each-ref", "--format=%(objectname)", "refs/fastflow/backup/2*")
    assert local in backups.split()
    # The uncommitted edit and the untracked file come back from the kept stash.
    assert "print('uncommitted')" in git(checkout, "stash", "show", "-p", ref)
    assert git(checkout, "show", f"{ref}^3:new.py") == "print('my untracked new.py')"


def test_a_pipelines_dir_inside_a_bigger_repository_is_refused_and_left_alone(
    make_settings: Callable[..., Settings], repos: dict[str, Path]
) -> None:
    """The quick start's layout: PIPELINES_DIR is a folder of the fastflow clone. A sync
    would check out the whole clone and discard edits outside PIPELINES_DIR."""
    outer = repos["checkout"]
    commit(outer, {"pipelines/inner.py": HELLO, "README.md": "readme\n"}, "layout")
    (outer / "README.md").write_text("an edit outside PIPELINES_DIR\n")
    live = start_server(make_settings(PIPELINES_DIR=str(outer / "pipelines")))
    try:
        with live.client() as c:
            r = c.post("/api/sync")
            assert r.status_code == 409, r.text
            detail = r.json()["detail"]
            assert "inside the git repository" in detail and "clone" in detail
    finally:
        live.stop()
    assert (outer / "README.md").read_text() == "an edit outside PIPELINES_DIR\n"


def test_not_a_checkout_is_a_clear_409(client: httpx.Client) -> None:
    r = client.post("/api/sync")
    assert r.status_code == 409 and "not a git checkout" in r.json()["detail"]
    assert client.get("/api/sync/status").json()["is_git_checkout"] is False


def test_preheat_builds_new_requirements_and_reports_failures(
    sync_server: LiveServer, repos: dict[str, Path]
) -> None:
    commit(
        repos["dev"],
        {
            "tab/main.py": "import tabulate\nprint(tabulate.tabulate([[1, 2]]))\n",
            "tab/requirements.txt": "tabulate==0.9.0\n",
            "broken/main.py": "print('never')\n",
            "broken/requirements.txt": "this-package-does-not-exist-fastflow-test==0.0.1\n",
        },
        "pipelines with requirements",
    )
    with sync_server.client() as c:
        result = c.post("/api/sync").json()
        assert sorted(result["preheating"]) == ["broken", "tab"]

        def settled(name: str) -> dict[str, Any] | None:
            p: dict[str, Any] = c.get(f"/api/pipelines/{name}").json()
            return p if p["cache_status"] in ("cached", "failed") else None

        tab = poll(lambda: settled("tab"), "tab pre-heated", timeout=120)
        assert tab["cache_status"] == "cached" and tab["last_cache_warmup"]
        broken = poll(lambda: settled("broken"), "broken pre-heat failing", timeout=120)
        assert broken["cache_status"] == "failed"
        assert "this-package-does-not-exist" in broken["cache_warmup_error"]
        assert broken["last_cache_warmup"] is None
        assert c.get("/api/pipelines/first").json()["cache_status"] is None  # no deps
        run = wait_for_run(c, c.post("/api/pipelines/tab/run", json={}).json()["id"])
        assert run["status"] == "SUCCESS" and run["setup_duration"] == 0.0
        again = c.post("/api/sync").json()
        assert again["preheating"] == ["broken"]  # tab is cached; only the failed one retries


def test_push_hook_triggers_a_sync(sync_server: LiveServer, repos: dict[str, Path]) -> None:
    with sync_server.client() as c:
        created = c.post("/api/webhooks/inbound", json={"sync": True})
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        head = commit(repos["dev"], {"pushed.py": HELLO}, "pushed")
        body = b'{"ref": "refs/heads/main"}'
        forged = httpx.post(
            f"{sync_server.url}/api/sync/hook",
            content=body,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=" + "0" * 64},
        )
        assert forged.status_code == 403
        sig = "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
        r = httpx.post(
            f"{sync_server.url}/api/sync/hook",
            content=body,
            headers={"X-GitHub-Event": "push", "X-Hub-Signature-256": sig},
        )
        assert r.status_code == 202, r.text
        assert r.json()["commit"] == head and "pushed" in names(c)


def test_auto_sync_pulls_on_its_interval(
    make_settings: Callable[..., Settings], repos: dict[str, Path]
) -> None:
    live = start_server(make_settings(PIPELINES_DIR=str(repos["checkout"]), AUTO_SYNC_INTERVAL=0.3))
    try:
        head = commit(repos["dev"], {"auto.py": HELLO}, "auto")
        with live.client() as c:
            poll(lambda: c.get("/api/sync/status").json()["commit"] == head, "auto sync")
            assert c.get("/api/sync/status").json()["last_sync"]["reason"] == "auto"
    finally:
        live.stop()


def poll(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
    return value


SLOW = "import time\nfor i in range(600):\n    print('tick', i, flush=True)\n    time.sleep(0.1)\n"


def _wait_line(c: httpx.Client, run_id: str, text: str) -> None:
    deadline = time.monotonic() + 60
    while text not in c.get(f"/api/runs/{run_id}/logs").text:
        assert time.monotonic() < deadline, f"{text!r} never appeared"
        time.sleep(0.05)


def test_a_pipeline_removed_by_sync_stops_its_runs_and_schedules(
    sync_server: LiveServer, repos: dict[str, Path]
) -> None:
    commit(repos["dev"], {"slow.py": SLOW}, "slow pipeline")
    with sync_server.client() as c:
        assert c.post("/api/sync").json()["added_pipelines"] == ["slow"]
        run = c.post("/api/pipelines/slow/run", json={}).json()
        schedule = c.post(
            "/api/schedules",
            json={"pipeline_name": "slow", "trigger_type": "INTERVAL", "trigger_value": 3600},
        ).json()
        _wait_line(c, run["id"], "tick 2")
        git(repos["dev"], "rm", "-q", "slow.py")
        git(repos["dev"], "commit", "-qm", "remove slow")
        git(repos["dev"], "push", "-q", "origin", "HEAD:main")
        result = c.post("/api/sync").json()
        assert result["removed_pipelines"] == ["slow"]
        [warning] = result["warnings"]
        assert "'slow' was removed" in warning and run["id"] in warning
        assert schedule["id"] in warning
        done = wait_for_run(c, run["id"])
        assert done["status"] == "CANCELLED"
        assert "pipeline removed" in done["error_message"]
        assert c.get(f"/api/schedules/{schedule['id']}").json()["enabled"] is False
        # The last sync's warnings are what the console shows.
        assert c.get("/api/sync/status").json()["last_sync"]["warnings"] == [warning]


def test_a_pipeline_deleted_on_disk_stops_its_runs(
    sync_server: LiveServer, repos: dict[str, Path]
) -> None:
    (repos["checkout"] / "slow.py").write_text(SLOW)
    with sync_server.client() as c:
        run = c.post("/api/pipelines/slow/run", json={}).json()
        _wait_line(c, run["id"], "tick 2")
        (repos["checkout"] / "slow.py").unlink()
        done = wait_for_run(c, run["id"], timeout=30)
        assert done["status"] == "CANCELLED"
        assert "pipeline removed" in done["error_message"]
