"""Builds through real HTTP multipart: good uploads run like any pipeline; bad ones get a 4xx."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from fastflow.settings import Settings
from tests.support.s3 import S3StandIn
from tests.support.server import LiveServer, start_server, wait_for_run

WRITER = b"""
import os, pathlib, random
out = pathlib.Path(os.environ["FASTFLOW_ARTIFACTS_DIR"])
size = int(os.environ.get("SIZE", "300000"))
(out / "reports").mkdir(parents=True, exist_ok=True)
(out / "data.bin").write_bytes(random.Random(42).randbytes(size))
(out / "reports" / "\xc3\xbcbersicht.txt").write_text("ok\\n", encoding="utf-8")
os.symlink("/etc/passwd", out / "passwd")
print("wrote", size)
"""


def _data(size: int = 300000) -> bytes:
    return random.Random(42).randbytes(size)


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _upload(client: httpx.Client, filename: str, content: bytes, **form: str) -> httpx.Response:
    return client.post("/api/builds", files={"file": (filename, content)}, data=form)


@pytest.fixture
def custom_server(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., LiveServer]]:
    started: list[LiveServer] = []

    def start(**env: Any) -> LiveServer:
        live = start_server(make_settings(**env))
        started.append(live)
        return live

    yield start
    for live in started:
        live.stop()


def test_py_build_runs_keeps_artifacts_and_can_be_rerun(client: httpx.Client) -> None:
    r = _upload(client, "writer.py", WRITER)
    assert r.status_code == 202, r.text
    build = r.json()
    assert build["status_url"] == f"/api/runs/{build['run_id']}"
    run = wait_for_run(client, build["run_id"])
    assert run["status"] == "SUCCESS", client.get(build["logs_url"]).text
    assert run["pipeline_name"] == "writer"
    assert run["source"] == f"upload:{build['build_id']}"
    assert client.get(build["logs_url"]).text == (
        "wrote 300000\nartifact 'passwd' is a symbolic link; not kept\n"
    )

    listed = client.get(build["artifacts_url"]).json()
    assert [a["path"] for a in listed] == ["data.bin", "reports/übersicht.txt"]  # no symlink
    data = _data()
    assert listed[0]["size"] == len(data)
    assert listed[0]["sha256"] == hashlib.sha256(data).hexdigest()
    got = client.get(listed[0]["url"])
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["x-checksum-sha256"] == listed[0]["sha256"]
    assert client.get(listed[1]["url"]).content == b"ok\n"

    base = f"/api/runs/{build['run_id']}/artifacts"
    assert client.get(f"{base}/..%2F..%2Fsecret_key").status_code == 422
    assert client.get(f"{base}/nothing.bin").status_code == 404

    uploads = client.get("/api/builds").json()
    assert uploads["total"] == 1
    assert uploads["items"][0]["sha256"] == hashlib.sha256(WRITER).hexdigest()
    again = client.post(f"/api/builds/{build['build_id']}/run", json={"parameters": {"SIZE": "5"}})
    assert again.status_code == 202, again.text
    rerun = wait_for_run(client, again.json()["run_id"])
    assert rerun["status"] == "SUCCESS"
    assert client.get(f"/api/runs/{rerun['id']}/artifacts").json()[0]["size"] == 5
    retried = client.post(f"/api/runs/{rerun['id']}/retry").json()
    assert wait_for_run(client, retried["id"])["status"] == "SUCCESS"
    detail = client.get(f"/api/builds/{build['build_id']}").json()
    assert len(detail["runs"]) == 3


def test_zip_build_with_pipeline_json_and_parameters(client: httpx.Client) -> None:
    source = _zip(
        {
            "job/main.py": b"import os\nprint(os.environ['GREETING'], 'from', __file__)\n",
            "job/pipeline.json": json.dumps({"parameters": {"GREETING": "hello"}}).encode(),
        }
    )
    r = _upload(client, "job.zip", source, name="greeter", parameters='{"GREETING": "hi"}')
    assert r.status_code == 202, r.text
    run = wait_for_run(client, r.json()["run_id"])
    assert run["status"] == "SUCCESS"
    assert run["pipeline_name"] == "greeter"
    assert client.get(r.json()["logs_url"]).text.startswith("hi from ")


def test_bad_uploads_get_a_clear_4xx_and_leave_nothing(
    custom_server: Callable[..., LiveServer],
) -> None:
    server = custom_server(UPLOAD_MAX_SIZE_MB="1")
    bomb = _zip({"main.py": b"", "zeros": bytes(20 * 1024 * 1024)})
    slip = _zip({"main.py": b"", "../../evil.py": b""})
    latin = _zip({"main.py": b"", "QQQQ.txt": b"x"}).replace(b"QQQQ", b"caf\xe9")
    deep = b"[" * 50_000 + b"]" * 50_000
    file_and_folder = _zip({"main.py": b"", "a": b"x", "a/b": b"y"})
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"files": {"file": ("x.zip", b"not a zip")}}, 422, "not a zip"),
        ({"files": {"file": ("x.zip", _zip({"app.py": b""}))}}, 422, "no main.py"),
        ({"files": {"file": ("x.zip", slip)}}, 422, "outside the archive"),
        ({"files": {"file": ("x.zip", bomb)}}, 422, "compression ratio"),
        ({"files": {"file": ("x.zip", latin)}}, 422, "not UTF-8"),
        ({"files": {"file": ("big.py", b"#" * (2 * 1024 * 1024))}}, 413, "over the limit"),
        ({"files": {"file": ("x.exe", b"MZ")}}, 422, ".py file or a .zip"),
        ({"files": {"file": ("x.py", b"\xff\xfe")}}, 422, "not valid UTF-8"),
        ({"files": {"other": ("x.py", b"print(1)")}}, 422, "field named 'file'"),
        ({"json": {"file": "print(1)"}}, 422, "field named 'file'"),
        (
            {"files": {"file": ("x.py", b"print(1)")}, "data": {"parameters": "[1]"}},
            422,
            "JSON object",
        ),
        (
            {"files": {"file": ("x.zip", _zip({"main.py": b"", "pipeline.json": b"{oops"}))}},
            422,
            "invalid JSON",
        ),
        ({"files": {"file": ("x.zip", file_and_folder)}}, 422, "as a file and as a folder"),
        (
            {"files": {"file": ("x.py", b"print(1)")}, "data": {"parameters": deep.decode()}},
            422,
            "not valid JSON",
        ),
        (
            {"files": {"file": ("x.zip", _zip({"main.py": b"", "pipeline.json": deep}))}},
            422,
            "depth limit",
        ),
        ({"files": {"file": ("hello.py", b"print(1)")}}, 409, "exists in PIPELINES_DIR"),
        ({"files": {"file": ("x.py", b"print(1)")}, "data": {"name": "../x"}}, 422, "invalid"),
    ]
    with server.client() as client:
        for kwargs, status, words in cases:
            r = client.post("/api/builds", **kwargs)
            assert r.status_code == status, (kwargs, r.status_code, r.text)
            assert words in r.json()["detail"], (kwargs, r.json())
        assert client.get("/api/builds").json()["total"] == 0
        assert client.get("/api/runs").json()["total"] == 0
    incoming = server.settings.uploads_dir / ".incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []
    objects = server.settings.objects_dir
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_concurrent_uploads(client: httpx.Client) -> None:
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def upload(i: int) -> None:
        r = _upload(client, f"job{i}.py", f"print('job {i}')\n".encode())
        with lock:
            answers.append(r)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status_code for r in answers) == [202] * 6
    assert len({r.json()["build_id"] for r in answers}) == 6
    for r in answers:
        run = wait_for_run(client, r.json()["run_id"])
        assert run["status"] == "SUCCESS"
        name = run["pipeline_name"]
        assert client.get(f"/api/runs/{run['id']}/logs").text == f"job {name[3:]}\n"


def test_artifacts_over_the_limit_are_refused_with_a_clear_error(
    custom_server: Callable[..., LiveServer],
) -> None:
    server = custom_server(ARTIFACTS_MAX_SIZE_MB="0.1")
    with server.client() as client:
        r = _upload(client, "writer.py", WRITER)
        run = wait_for_run(client, r.json()["run_id"])
        assert run["status"] == "SUCCESS"  # the pipeline did its work; its outputs are refused
        assert client.get(r.json()["artifacts_url"]).json() == []
        errors = [
            json.loads(line)
            for line in client.get(f"/api/runs/{run['id']}/events/history").text.splitlines()
        ]
        messages = [e["error"] for e in errors if e["type"] == "error"]
        assert any("ARTIFACTS_MAX_SIZE_MB" in m for m in messages), messages
        complete = next(e for e in errors if e["type"] == "complete")
        assert complete["artifacts"] == []


def test_sources_artifacts_and_logs_in_s3(
    custom_server: Callable[..., LiveServer], s3_server: S3StandIn
) -> None:
    bucket = s3_server.new_bucket()
    server = custom_server(ARCHIVE_LOGS="true", **s3_server.env(bucket))
    with server.client() as client:
        r = _upload(client, "writer.py", WRITER)
        build = r.json()
        run = wait_for_run(client, build["run_id"])
        assert run["status"] == "SUCCESS"
        listed = client.get(build["artifacts_url"]).json()
        assert client.get(listed[0]["url"]).content == _data()
        keys = {o.key for o in server.services.objects.list(f"runs/{run['id']}/")}
        assert keys == {
            f"runs/{run['id']}/artifacts/data.bin",
            f"runs/{run['id']}/artifacts/reports/übersicht.txt",
            f"runs/{run['id']}/log.jsonl",
            f"runs/{run['id']}/metrics.jsonl",
        }
        assert server.services.objects.exists(f"uploads/{build['build_id']}/source.py")
        # The local log is gone (a new disk): it comes back from the archive.
        server.services.logs.log_path(run["id"]).unlink()
        assert client.get(build["logs_url"]).text.startswith("wrote 300000\n")
        # The unpacked source is gone too: a re-run fetches it from the bucket.
        import shutil

        shutil.rmtree(server.settings.uploads_dir / build["build_id"])
        again = client.post(f"/api/builds/{build['build_id']}/run", json={}).json()
        assert wait_for_run(client, again["run_id"])["status"] == "SUCCESS"


def test_unpacked_uploads_fall_under_the_clean_up(server: LiveServer, client: httpx.Client) -> None:
    r = _upload(client, "writer.py", WRITER)
    build = r.json()
    assert wait_for_run(client, build["run_id"])["status"] == "SUCCESS"
    cache = server.settings.uploads_dir / build["build_id"]
    assert cache.is_dir()
    server.services.cleanup.run_once()
    assert cache.is_dir()  # used within the hour: kept
    old = time.time() - 7200
    os.utime(cache, (old, old))
    report = server.services.cleanup.run_once()
    assert not cache.exists() and str(cache) in report.leftover_paths
    # The next run of the build unpacks it again from the object store.
    again = client.post(f"/api/builds/{build['build_id']}/run", json={}).json()
    assert wait_for_run(client, again["run_id"])["status"] == "SUCCESS"
    assert cache.is_dir()
