"""The original requests' clients, written as their documents show them, against a real server.

- the live build WebSocket system: `POST /build/start`, `ws://…/ws/build/{build_id}?token=`
  with `connected` / `log` / `status` / `error` / `complete` messages, `GET /build/download`,
  `GET /ws/active-builds`;
- the job tracking concept: `POST` a job, poll its `poll_url`, follow `/api/jobs/{id}/stream`
  with plain `data:` messages (what `EventSource.onmessage` gets), the `/ws` job feed, the
  server's own log as SSE;
- the functions platform's build API: `POST /api/v1/build` (a file), poll
  `GET /api/v1/tasks/{task_id}`;
- the build & logging plan's log view: a build's log as one JSON array;

plus CORS for a frontend on another origin, and hostile input (4xx with a sentence, never 5xx).
One server for the module; the JS clients run in Chromium (tests/e2e/test_original_clients.py).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from httpx_sse import aconnect_sse

from fastflow.errors import ConfigError
from fastflow.models import Role
from fastflow.settings import load_settings
from tests.support.original_clients import compat_server
from tests.support.server import LiveServer, wait_for_run

FRONTEND = "http://localhost:5173"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, uv_cache: Path) -> Iterator[LiveServer]:
    yield from compat_server(
        tmp_path_factory,
        "original-clients",
        uv_cache,
        FASTFLOW_CORS_ORIGINS=f"{FRONTEND}, https://app.example.com/",
    )


@pytest.fixture(scope="module")
def token(live: LiveServer) -> str:
    return live.login()


@pytest.fixture
def api(live: LiveServer, token: str) -> Iterator[httpx.Client]:
    with live.client(token) as client:
        yield client


def ws_url(live: LiveServer, path: str) -> str:
    return live.url.replace("http://", "ws://") + path


# ---- the live build WebSocket system --------------------------------------------------------


async def live_build_client(live: LiveServer, token: str, build_id: str) -> dict[str, Any]:
    """The document's client: one WebSocket per build, messages by `type`."""
    seen: dict[str, Any] = {"logs": [], "status": [], "errors": [], "types": []}
    url = ws_url(live, f"/ws/build/{build_id}?token={token}")
    async with websockets.connect(url) as ws:
        async for raw in ws:
            msg = json.loads(raw)
            seen["types"].append(msg["type"])
            if msg["type"] == "connected":
                seen["connected"] = msg
            elif msg["type"] == "log":
                assert {"text", "timestamp", "seq", "stream"} <= msg.keys(), msg
                seen["logs"].append(msg["text"])
            elif msg["type"] == "status":
                seen["status"].append(f"{msg['status']}: {msg['progress']}%")
            elif msg["type"] == "error":
                seen["errors"].append(msg["error"])
            elif msg["type"] == "complete":
                seen["complete"] = {"success": msg["success"], "artifacts": msg["artifacts"]}
        seen["closed"] = (ws.close_code, ws.close_reason)
    return seen


async def test_live_build_client_start_follow_download(live: LiveServer, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=live.url, headers=headers) as http:
        r = await http.post(
            "/build/start", json={"project_id": "app_build", "build_type": "flutter_android"}
        )
        assert r.status_code == 200, r.text
        build_id = r.json()["build_id"]
        seen = await live_build_client(live, token, build_id)
        assert seen["connected"]["build_id"] == build_id
        assert seen["connected"]["message"] == f"Connected to build {build_id}"
        assert seen["logs"] == [
            "Starting flutter_android build...",
            *[f"line {i}" for i in range(1, 41)],
            "Build completed successfully",
        ]
        assert seen["status"][0] == "RUNNING: 0%"
        assert "RUNNING: 45%" in seen["status"]
        assert seen["status"][-1] == "SUCCESS: 100%"
        assert seen["types"][-2:] == ["status", "complete"]  # the final status, then complete
        assert seen["complete"] == {
            "success": True,
            "artifacts": ["app-release.apk", "web/index.html"],
        }
        assert seen["closed"] == (1000, "run complete")
        files = (await http.get("/build/download", params={"build_id": build_id})).json()
        assert files["build_id"] == build_id
        assert files["files"] == ["app-release.apk", "web/index.html"]
        apk = await http.get(files["urls"]["app-release.apk"])
        assert apk.content == b"apk"


async def test_live_build_failure_resume_batch_and_active_builds(
    live: LiveServer, token: str, tmp_path: Path
) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    gate = tmp_path / "gate"
    async with httpx.AsyncClient(base_url=live.url, headers=headers) as http:
        body = {"project_id": "app_build", "parameters": {"FAIL": "1", "GATE": str(gate)}}
        build_id = (await http.post("/build/start", json=body)).json()["build_id"]
        watcher = asyncio.create_task(live_build_client(live, token, build_id))
        for _ in range(200):
            active = (await http.get("/ws/active-builds")).json()["active_builds"]
            if {"build_id": build_id, "clients": 1} in active:
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"the build never showed as watched: {active}")
        gate.touch()
        seen = await watcher
    assert seen["errors"] and "exit" in seen["errors"][0].lower()
    assert seen["status"][-1].startswith("FAILED: ")
    assert seen["complete"] == {"success": False, "artifacts": []}
    assert "Build failed: missing dependencies" in seen["logs"]  # stderr: its own pipe

    # A client that resumes after a seq gets only what follows; ?batch=1 the batched lines.
    url = ws_url(live, f"/ws/build/{build_id}?since=5&token={token}")
    async with websockets.connect(url) as ws:
        after = [json.loads(m) async for m in ws]
    assert after[0]["seq"] == 5 and all(m["seq"] > 5 for m in after[1:])
    url = ws_url(live, f"/ws/runs/{build_id}?batch=1&token={token}")
    async with websockets.connect(url) as ws:
        batched = [json.loads(m) async for m in ws]
    lines = [line for m in batched if m["type"] == "log" for line in m["lines"]]
    stdout = [line["line"] for line in lines if line["stream"] == "stdout"]
    assert stdout[:2] == ["Starting default build...", "line 1"]
    assert len([m for m in batched if m["type"] == "log"]) < len(lines)


# ---- the job tracking concept ---------------------------------------------------------------


async def test_job_tracking_poll_stream_and_feed(live: LiveServer, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with (
        httpx.AsyncClient(base_url=live.url, headers=headers) as http,
        websockets.connect(ws_url(live, f"/ws?token={token}")) as feed,
    ):
        r = await http.post(
            "/api/jobs", json={"pipeline": "app_build", "parameters": {"PAUSE": 0.25}}
        )
        assert r.status_code == 200, r.text
        job = r.json()
        assert job["status"] == "pending" and job["poll_url"] == f"/api/jobs/{job['job_id']}"
        # EventSource: unnamed `data:` messages, each the job; the stream ends after the last.
        updates: list[dict[str, Any]] = []
        async with aconnect_sse(http, "GET", f"{job['poll_url']}/stream") as source:
            async for event in source.aiter_sse():
                assert event.event == "message"  # what onmessage receives
                updates.append(json.loads(event.data))
            last_id = event.id
        # Polling, as the document does (every second there; the job is over by now).
        polled = (await http.get(job["poll_url"])).json()
        assert updates[-1] == polled
        assert polled["status"] == "completed" and polled["progress"] == 100
        assert polled["result"]["artifacts"] == ["app-release.apk", "web/index.html"]
        assert "error" not in polled
        progress = [u["progress"] for u in updates]
        assert progress == sorted(progress) and len(set(progress)) > 2
        assert {u["status"] for u in updates} >= {"running", "completed"}
        # EventSource reconnects with the last id: nothing more, 204 stops it.
        again = await http.get(
            f"{job['poll_url']}/stream", headers={"Last-Event-ID": last_id or ""}
        )
        assert again.status_code == 204
        # The job feed saw the same job from pending (or running) to completed.
        feed_states = []
        while "completed" not in feed_states:
            msg = json.loads(await asyncio.wait_for(feed.recv(), 10))
            if msg["job_id"] == job["job_id"]:
                feed_states.append(msg["status"])
        assert feed_states[0] in ("pending", "running")

        failed = (
            await http.post("/api/jobs", json={"pipeline": "app_build", "parameters": {"FAIL": 1}})
        ).json()
        async with aconnect_sse(http, "GET", failed["stream_url"]) as source:
            final = [json.loads(e.data) async for e in source.aiter_sse()][-1]
        assert final["status"] == "failed" and final["error"] and "result" not in final


async def test_server_log_stream_masks_secrets_and_is_for_admins(
    live: LiveServer, token: str
) -> None:
    with live.client(token) as api:
        secret = {"key": "DEPLOY_KEY", "value": "hunter2-xyz", "is_secret": True}
        assert api.post("/api/secrets", json=secret).status_code == 201
        live.services.auth.create_user("olga", "operator-pw-1", Role.OPERATOR)
        operator = live.login("olga", "operator-pw-1")
    marker = f"compat-{time.time()}"
    logging.getLogger("fastflow.compat").warning(
        "%s secret hunter2-xyz with Bearer abc.def.ghi at /x?token=t0k3n", marker
    )
    url = f"{live.url}/api/logs/stream"
    forbidden = httpx.get(url, headers={"Authorization": f"Bearer {operator}"})
    assert forbidden.status_code == 403 and "admin" in forbidden.json()["detail"]
    async with (
        httpx.AsyncClient(timeout=10) as http,
        aconnect_sse(http, "GET", url, params={"token": token}) as source,
    ):
        async for event in source.aiter_sse():
            assert event.event == "message" and event.id.isdigit()
            if marker in event.data:
                break
    assert "hunter2" not in event.data and "abc.def" not in event.data and "t0k3n" not in event.data
    assert "secret *** with Bearer *** at /x?token=***" in event.data
    assert "WARNING fastflow.compat" in event.data


# ---- the functions platform's build API ------------------------------------------------------


def poll_task(api: httpx.Client, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        task: dict[str, Any] = api.get(f"/api/v1/tasks/{task_id}").raise_for_status().json()
        if task["status"] in ("completed", "failed"):
            return task
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish")


def test_build_api_upload_and_task_polling(api: httpx.Client) -> None:
    source = b'print("hello from a function")\n'
    r = api.post(
        "/api/v1/build",
        files={"file": ("handler.py", source, "text/x-python")},
        data={"app_name": "my-func", "workspace_id": "ws-1"},
    )
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["status"] == "pending" and task["task_id"]
    done = poll_task(api, task["task_id"])
    assert done["status"] == "completed" and done["error_message"] is None
    assert done["app_name"] == "my-func"
    assert {"created_at", "updated_at", "artifacts"} <= done.keys()
    assert done["updated_at"] >= done["created_at"]

    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("main.py", "import sys\nprint('bad', file=sys.stderr)\nsys.exit(2)\n")
    r = api.post("/api/v1/build", files={"file": ("app.zip", archive.getvalue())})
    failed = poll_task(api, r.json()["task_id"])
    assert failed["status"] == "failed" and failed["error_message"]

    for files, what in (
        ({"file": ("notes.txt", b"hi")}, ".py"),
        ({"other": ("x.py", b"print(1)")}, "field named 'file'"),
    ):
        bad = api.post("/api/v1/build", files=files)
        assert bad.status_code in (413, 422), bad.text
        assert what in bad.json()["detail"]


# ---- the build & logging plan's log view -----------------------------------------------------


def test_build_log_as_one_array(api: httpx.Client) -> None:
    run = api.post("/api/jobs", json={"pipeline": "app_build", "parameters": {"LINES": 3}}).json()
    wait_for_run(api, run["job_id"])
    r = api.get(f"/api/runs/{run['job_id']}/logs", params={"format": "array"})
    assert r.headers["content-type"] == "application/json"
    logs = r.json()
    assert [e["text"] for e in logs] == [
        "Starting default build...",
        "line 1",
        "line 2",
        "line 3",
        "Build completed successfully",
    ]
    assert all(e.keys() == {"seq", "stream", "text", "timestamp"} for e in logs)
    assert [e["seq"] for e in logs] == sorted(e["seq"] for e in logs)


# ---- CORS -----------------------------------------------------------------------------------


def test_cors_for_the_configured_frontends_only(live: LiveServer, token: str) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    for origin in (FRONTEND, "https://app.example.com"):
        r = httpx.options(f"{live.url}/build/start", headers={"Origin": origin, **preflight})
        assert r.status_code == 204
        assert r.headers["access-control-allow-origin"] == origin
        assert "POST" in r.headers["access-control-allow-methods"]
        assert r.headers["access-control-allow-headers"] == "authorization, content-type"
        assert "access-control-allow-credentials" not in r.headers
    auth = {"Authorization": f"Bearer {token}"}
    allowed = httpx.get(f"{live.url}/api/jobs/nope", headers={"Origin": FRONTEND, **auth})
    assert allowed.status_code == 404  # errors are readable by the frontend too
    assert allowed.headers["access-control-allow-origin"] == FRONTEND
    assert "access-control-allow-credentials" not in allowed.headers

    evil = "http://evil.example"
    refused = httpx.options(f"{live.url}/build/start", headers={"Origin": evil, **preflight})
    assert refused.status_code == 403
    assert "FASTFLOW_CORS_ORIGINS" in refused.json()["detail"]
    other = httpx.get(f"{live.url}/ws/active-builds", headers={"Origin": evil, **auth})
    assert other.status_code == 200
    assert not [h for h in other.headers if h.startswith("access-control-")]
    odd = httpx.options(
        f"{live.url}/build/start",
        headers={"Origin": FRONTEND, **preflight, "Access-Control-Request-Headers": "x-evil"},
    )
    assert odd.status_code == 403 and "x-evil" in odd.json()["detail"]

    for bad in ("localhost:5173", "http://host/path", "ftp://x"):
        with pytest.raises(ConfigError, match=r"FASTFLOW_CORS_ORIGINS.*not an origin"):
            load_settings(_env_file=None, FASTFLOW_CORS_ORIGINS=bad)
    assert load_settings(_env_file=None).cors_origin_list == []


# ---- hostile input --------------------------------------------------------------------------


def test_hostile_input_gets_a_4xx_with_a_sentence(api: httpx.Client, live: LiveServer) -> None:
    huge = "a" * 10_000
    for path, params in (
        (f"/api/jobs/{huge}", None),
        (f"/api/jobs/{huge}/stream", None),
        (f"/api/v1/tasks/{huge}", None),
        ("/api/jobs/..%2F..%2Fetc%2Fpasswd", None),
        ("/api/v1/tasks/%E2%98%83", None),
        ("/api/jobs/unknown-job", None),
        ("/api/jobs/unknown-job/stream", None),
        ("/api/v1/tasks/unknown-task", None),
        ("/build/download", {"build_id": huge}),
        ("/build/download", {"build_id": "unknown-build"}),
        ("/build/download", {"build_id": "../../etc/passwd"}),
        ("/build/download", None),
        ("/api/runs/unknown/logs", {"format": "array"}),
    ):
        r = api.get(path, params=params)
        assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
        assert len(r.json()["detail"]) > 10, (path, r.text)
    for path, body in (
        ("/build/start", b"{not json"),
        ("/build/start", b'{"project_id": "app_build", "build_type": ["x"]}'),
        ("/build/start", b'{"project_id": "no_such_pipeline"}'),
        ("/build/start", b'{"project_id": "../../etc"}'),
        ("/build/start", json.dumps({"project_id": huge}).encode()),
        ("/build/start", b'{"project_id": "app_build", "surprise": 1}'),
        ("/api/jobs", b"[]"),
        ("/api/jobs", b'{"pipeline": "app_build", "parameters": {"1BAD": "x"}}'),
        ("/api/jobs", b'{"pipeline": "app_build", "parameters": "nope"}'),
        ("/api/jobs", b'{"pipeline": "\\u0000"}'),
        ("/api/v1/build", b"not multipart"),
    ):
        r = api.post(path, content=body, headers={"Content-Type": "application/json"})
        assert 400 <= r.status_code < 500, (path, body[:40], r.status_code, r.text)
        assert len(r.json()["detail"]) > 10, (path, r.text)

    from websockets.sync.client import connect

    token = api.headers["Authorization"].split()[1]
    for path, code in (
        # (Handshakes whose request line is over 8 KB never reach the app: uvicorn's
        # WebSocket parser gives up on them.)
        (f"/ws/build/{huge[:5000]}?token={token}", 4404),
        (f"/ws/build/unknown?token={token}", 4404),
        (f"/ws/build/unknown?since=-1&token={token}", 4422),
        (f"/ws/runs/unknown?batch=maybe&token={token}", 4422),
    ):
        with connect(ws_url(live, path)) as ws:
            with pytest.raises(websockets.ConnectionClosed):
                while True:
                    ws.recv(timeout=10)
            assert ws.close_code == code, (path, ws.close_code, ws.close_reason)
            assert ws.close_reason and len(ws.close_reason) > 10
