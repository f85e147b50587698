"""What a remote run gets and gives back: its secrets (masked before they reach Redis), its
artifacts (uploaded to the server's store) and its metrics (in the server's metrics file)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import random
import re
import threading
from collections.abc import Callable
from urllib.parse import quote

import httpx
import pytest
import redis

from tests.distributed.conftest import Cluster, OwnCluster
from tests.integration.test_secrets import OTHER, SECRET, _read_sse, _read_ws, _store
from tests.support.server import assert_exactly_once, event_history, start_run, wait_for_run
from tests.support.workers import WORKER_TOKEN

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
MARKER = "parameter-marker-4711"


class Monitor:
    """Every command the Redis server executes (MONITOR), collected in a thread."""

    def __init__(self, client: redis.Redis) -> None:
        self.commands: list[str] = []
        self.ended: Exception | None = None
        self._client = client  # kept: a collected client closes its connections
        self._monitor = client.monitor()
        self._monitor.__enter__()
        self._thread = threading.Thread(target=self._collect, daemon=True)
        self._thread.start()

    def _collect(self) -> None:
        try:
            while True:
                self.commands.append(str(self._monitor.next_command()["command"]))
        except (redis.RedisError, OSError, ValueError) as exc:
            self.ended = exc  # the connection was closed: monitoring is over

    def wait_ended(self, timeout: float = 30.0) -> Exception | None:
        """Why monitoring ended, once the collecting thread has seen its connection close."""
        self._thread.join(timeout)
        return self.ended


def _task_messages(commands: list[str]) -> list[str]:
    """The JSON bodies of the Celery messages pushed onto queues (kombu base64-encodes them)."""
    bodies = []
    for command in commands:
        if not command.startswith("LPUSH"):
            continue
        for blob in re.findall(r"[A-Za-z0-9+/]{40,}={0,2}", command):
            try:
                bodies.append(base64.b64decode(blob).decode())
            except (ValueError, UnicodeDecodeError):
                continue
    return bodies


@SQLITE_ONLY
def test_remote_run_gets_its_secrets_masked_before_they_reach_redis(
    make_own_cluster: Callable[[bool], OwnCluster], caplog: pytest.LogCaptureFixture
) -> None:
    cluster = make_own_cluster(False)
    monitor = Monitor(cluster.own_redis.client())
    caplog.set_level(logging.INFO, logger="fastflow.audit")
    with cluster.server.client() as client:
        _store(client)
        run_id = start_run(client, "print_secret", MARKER=MARKER)
        cluster.worker("w1", env_extra={"FASTFLOW_MAX_LINE_BYTES": "1024"})
        run = wait_for_run(client, run_id, timeout=90)
        assert (run["status"], run["worker"]) == ("FAILED", "w1")
        text = client.get(f"/api/runs/{run_id}/logs").text
        bodies = {
            "logs": text,
            "events": client.get(f"/api/runs/{run_id}/events/history").text,
            "detail": client.get(f"/api/runs/{run_id}").text,
            "sse": _read_sse(client, run_id),
            "websocket": _read_ws(cluster.server, run_id),
        }
        env = client.get(f"/api/runs/{run_id}").json()["env_vars"]
    cluster.own_redis.stop()  # ends MONITOR: every command the run caused is recorded
    forms = [
        SECRET,
        SECRET[: len(SECRET) // 2 + 3],
        base64.b64encode(SECRET.encode()).decode(),
        quote(SECRET, safe=""),
        OTHER,
    ]
    for line in (
        "whole: ***",
        "pieces: *** end",
        "b64: ***",
        "url: ***",
        "stderr: ***",
        "x***y",
        "other: ***",
        "plain: eu-central-1",
        "failed with ***",
    ):
        assert line in text, line
    assert "whole: ***" in bodies["sse"] and "whole: ***" in bodies["websocket"]
    assert (env["API_KEY"], env["OTHER_SECRET"], env["REGION"]) == ("***", "***", "eu-central-1")
    for where, body in bodies.items():
        for form in forms:
            assert form not in body, (where, form)
    # What went through Redis: the events (masked by the worker) and the task message.
    sent = "\n".join(monitor.commands)
    ended = monitor.wait_ended()
    assert isinstance(ended, redis.ConnectionError), ended  # by the stop
    assert "XADD" in sent and "whole: ***" in sent
    for form in forms:
        assert form not in sent, form
    messages = _task_messages(monitor.commands)
    assert any(MARKER in m and run_id in m for m in messages), messages  # parameters travel…
    assert not any(SECRET in m or OTHER in m for m in messages)  # …secrets never do
    audit = [r.getMessage() for r in caplog.records if r.name == "fastflow.audit"]
    fetched = f"worker w1 fetched the secrets of run {run_id} (print_secret)"
    assert audit == [f"{fetched}: API_KEY, OTHER_SECRET"]


@SQLITE_ONLY
def test_run_secrets_route_is_for_the_claiming_worker_only(cluster: Cluster) -> None:
    url = cluster.server.url
    with cluster.server.client() as client:
        _store(client)
        run_id = start_run(client, "sleeper", SECONDS_TO_RUN=60)
        route = f"/api/worker/runs/{run_id}/secrets"
        # A user's token (even an admin's) is not the worker token.
        assert client.get(route, headers={"X-Fastflow-Worker": "w1"}).status_code == 401
        as_worker = {"Authorization": f"Bearer {WORKER_TOKEN}"}
        # Nobody claimed the run yet (no worker runs).
        r = httpx.get(url + route, headers=as_worker | {"X-Fastflow-Worker": "w1"})
        assert r.status_code == 403 and "not claimed by worker 'w1'" in r.json()["detail"]
        r = httpx.get(url + route, headers=as_worker)
        assert r.status_code == 422 and "X-Fastflow-Worker" in r.json()["detail"], r.text
        cluster.worker("w1")
        wait_for_run(client, run_id, statuses=["RUNNING"])
        r = httpx.get(url + route, headers=as_worker | {"X-Fastflow-Worker": "w2"})
        assert r.status_code == 403
        r = httpx.get(url + route, headers=as_worker | {"X-Fastflow-Worker": "w1"})
        assert r.status_code == 200
        assert r.json()["env"]["API_KEY"] == SECRET and "API_KEY" in r.json()["secret_keys"]
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
        wait_for_run(client, run_id)
        # A finished run takes nothing and gives nothing any more.
        r = httpx.get(url + route, headers=as_worker | {"X-Fastflow-Worker": "w1"})
        assert r.status_code == 409 and "CANCELLED" in r.json()["detail"]
        bad = httpx.get(
            url + "/api/worker/runs/nope/secrets", headers=as_worker | {"X-Fastflow-Worker": "w1"}
        )
        assert bad.status_code == 404


ARTIFACT_SIZE = 1_500_000  # over the 1 MiB general body limit: the upload route has its own

MAKER = f"""
import os, random, time
folder = os.path.join(os.environ["FASTFLOW_ARTIFACTS_DIR"], "out")
os.makedirs(folder)
data = random.Random(7).randbytes({ARTIFACT_SIZE})
with open(os.path.join(folder, "data.bin"), "wb") as f:
    f.write(data)
with open(os.path.join(folder, "note.txt"), "w") as f:
    f.write("hello from the worker")
for i in range(15):
    print(f"tick {{i}}", flush=True)
    time.sleep(0.1)
"""


@SQLITE_ONLY
def test_remote_artifacts_and_metrics_reach_the_server(cluster: Cluster) -> None:
    (cluster.server.settings.pipelines_dir / "maker.py").write_text(MAKER)
    worker = cluster.worker("w1")
    expected = random.Random(7).randbytes(ARTIFACT_SIZE)
    with cluster.server.client() as client:
        run_id = start_run(client, "maker")
        run = wait_for_run(client, run_id, timeout=90)
        assert (run["status"], run["worker"]) == ("SUCCESS", "w1")
        events = event_history(client, run_id)
        assert_exactly_once(events)
        assert events[-1]["artifacts"] == ["out/data.bin", "out/note.txt"]
        listed = {a["path"]: a for a in client.get(f"/api/runs/{run_id}/artifacts").json()}
        assert sorted(listed) == ["out/data.bin", "out/note.txt"]
        assert listed["out/data.bin"]["size"] == ARTIFACT_SIZE
        assert listed["out/data.bin"]["sha256"] == hashlib.sha256(expected).hexdigest()
        got = client.get(listed["out/data.bin"]["url"])
        assert got.status_code == 200 and got.content == expected
        assert got.headers["X-Checksum-SHA256"] == hashlib.sha256(got.content).hexdigest()
        note = client.get(f"/api/runs/{run_id}/artifacts/out/note.txt")
        assert note.text == "hello from the worker"
        samples = client.get(f"/api/runs/{run_id}/metrics").json()
        live = [e for e in events if e["type"] == "metrics"]
        # The server's file holds exactly the samples the worker streamed, in order.
        assert len(samples) == len(live) >= 2
        assert [s["timestamp"] for s in samples] == [e["timestamp"] for e in live]
        assert all("cpu_percent" in s and "ram_mb" in s and "seq" not in s for s in samples)
        download = client.get(f"/api/runs/{run_id}/metrics/download")
        assert download.status_code == 200
        assert [json.loads(line) for line in download.text.splitlines()] == samples
    # Kept on the server: the worker's copy is gone.
    assert not (worker.log.parent / "data" / "runs" / run_id / "artifacts").exists()


@SQLITE_ONLY
def test_artifact_upload_checks_claim_size_and_checksum(cluster: Cluster) -> None:
    url = cluster.server.url
    cluster.worker("w1")
    with cluster.server.client() as client:
        run_id = start_run(client, "sleeper", SECONDS_TO_RUN=60)
        wait_for_run(client, run_id, statuses=["RUNNING"])
        route = f"{url}/api/worker/runs/{run_id}/artifacts/a/b.txt"
        body = b"some bytes"
        good = hashlib.sha256(body).hexdigest()
        as_w1 = {"Authorization": f"Bearer {WORKER_TOKEN}", "X-Fastflow-Worker": "w1"}
        r = httpx.put(route, content=body, headers=as_w1 | {"X-Content-SHA256": "0" * 64})
        assert r.status_code == 422 and "SHA-256 of the body" in r.json()["detail"]
        r = httpx.put(route, content=body, headers=as_w1 | {"X-Content-SHA256": "zz"})
        assert r.status_code == 422
        other = as_w1 | {"X-Fastflow-Worker": "w2", "X-Content-SHA256": good}
        assert httpx.put(route, content=body, headers=other).status_code == 403
        user = {"X-Fastflow-Worker": "w1", "X-Content-SHA256": good}
        assert client.put(route, content=body, headers=user).status_code == 401
        r = httpx.put(
            f"{url}/api/worker/runs/{run_id}/artifacts/..%2Fescape",
            content=body,
            headers=as_w1 | {"X-Content-SHA256": good},
        )
        assert r.status_code in (400, 404, 422), r.text
        r = httpx.put(route, content=body, headers=as_w1 | {"X-Content-SHA256": good})
        assert r.status_code == 201, r.text
        assert r.json() == {"path": "a/b.txt", "size": len(body), "sha256": good}
        assert client.get(f"/api/runs/{run_id}/artifacts/a/b.txt").content == body
        assert client.post(f"/api/runs/{run_id}/cancel").status_code == 200
        wait_for_run(client, run_id)
