"""Webhooks in (token, signature, forged, missing) and out (to a receiver on loopback)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastflow.records import OutboundWebhook
from fastflow.settings import Settings
from tests.support.server import LiveServer, free_port, start_server, wait_for_run


class Receiver:
    """A small HTTP server the test owns: answers the queued status codes, then 200."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.requests: list[tuple[dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hook_server(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    live = start_server(make_settings(WEBHOOK_RETRY_BASE_SECONDS=0.2, WEBHOOK_MAX_ATTEMPTS=3))
    yield live
    live.stop()


def poll(check: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return value


def test_inbound_hook_with_token_or_signature_starts_a_run(server: LiveServer) -> None:
    url = f"{server.url}/api/hooks/hello"
    with server.client() as c:
        created = c.post("/api/webhooks/inbound", json={"pipeline": "hello"})
        assert created.status_code == 201, created.text
        token = created.json()["token"]
        assert created.json()["url"] == "/api/hooks/hello"
        listed = c.get("/api/webhooks/inbound").json()
        assert [h["token"] for h in listed] == [None]  # shown once, never listed
        assert token not in json.dumps(listed)

        r = httpx.post(
            url, headers={"X-Fastflow-Token": token}, json={"parameters": {"NAME": "hook"}}
        )
        assert r.status_code == 202, r.text
        run = wait_for_run(c, r.json()["id"])
        assert run["trigger"] == "webhook" and run["status"] == "SUCCESS"
        assert "Hello, hook!" in c.get(f"/api/runs/{run['id']}/logs").text

        body = json.dumps({"action": "published"}).encode()
        sig = "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
        signed = httpx.post(url, content=body, headers={"X-Hub-Signature-256": sig})
        assert signed.status_code == 202, signed.text
        assert wait_for_run(c, signed.json()["id"])["parameters"] == {"NAME": "world"}

        tampered = httpx.post(url, content=body + b" ", headers={"X-Hub-Signature-256": sig})
        assert tampered.status_code == 403
        assert httpx.post(url, json={}).status_code == 401
        assert httpx.post(f"{url}?token={token}x").status_code == 403
        # A token is bound to its pipeline.
        other = httpx.post(f"{server.url}/api/hooks/failing", headers={"X-Fastflow-Token": token})
        assert other.status_code == 403
        # Creating it again rotates the token: the old one stops working.
        new = c.post("/api/webhooks/inbound", json={"pipeline": "hello"}).json()["token"]
        assert new != token
        assert httpx.post(url, headers={"X-Fastflow-Token": token}).status_code == 403
        assert httpx.post(url, headers={"X-Fastflow-Token": new}).status_code == 202
        bad = httpx.post(url, headers={"X-Fastflow-Token": new}, json={"parameters": [1]})
        assert bad.status_code == 422


def test_outbound_webhook_retries_then_delivers_a_signed_payload(
    hook_server: LiveServer,
) -> None:
    receiver = Receiver([500])
    try:
        with hook_server.client() as c:
            r = c.post("/api/webhooks/outbound", json={"url": receiver.url, "pipeline": "hello"})
            assert r.status_code == 201, r.text
            hook = r.json()
            run = c.post("/api/pipelines/hello/run", json={}).json()
            wait_for_run(c, run["id"])
            poll(lambda: len(receiver.requests) >= 2, "a retried delivery")
            deliveries = poll(
                lambda: [
                    d
                    for d in c.get(f"/api/webhooks/outbound/{hook['id']}/deliveries").json()
                    if d["status"] == "delivered"
                ],
                "the delivery recorded",
            )
            assert deliveries[0]["attempts"] == 2 and deliveries[0]["last_status_code"] == 200
            # A run of another pipeline is not sent to this pipeline's webhook.
            other = c.post("/api/pipelines/failing/run", json={}).json()
            wait_for_run(c, other["id"])
    finally:
        receiver.close()
    headers, body = receiver.requests[-1]
    expected = hmac.new(hook["secret"].encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-fastflow-signature-256"] == f"sha256={expected}"
    assert headers["x-fastflow-event"] == "run.finished"
    payload = json.loads(body)
    assert payload["run_id"] == run["id"] and payload["pipeline"] == "hello"
    assert (payload["status"], payload["exit_code"]) == ("SUCCESS", 0)
    assert payload["duration_seconds"] is not None
    assert payload["links"]["run"].endswith(f"/api/runs/{run['id']}")
    assert {json.loads(b)["run_id"] for _, b in receiver.requests} == {run["id"]}


def test_outbound_webhook_gives_up_after_max_attempts(hook_server: LiveServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}/nobody-listens"
    with hook_server.client() as c:
        hook = c.post("/api/webhooks/outbound", json={"url": dead}).json()  # global
        run = c.post("/api/pipelines/failing/run", json={}).json()
        wait_for_run(c, run["id"])
        failed = poll(
            lambda: [
                d
                for d in c.get(f"/api/webhooks/outbound/{hook['id']}/deliveries").json()
                if d["status"] == "failed"
            ],
            "the delivery given up",
        )
        assert failed[0]["attempts"] == 3 and failed[0]["last_error"]
        assert failed[0]["payload"]["status"] == "FAILED"
        bad = c.post("/api/webhooks/outbound", json={"url": "ftp://example.org/x"})
        assert bad.status_code == 422 and "url" in bad.json()["detail"]
        assert c.delete(f"/api/webhooks/outbound/{hook['id']}").status_code == 204


def test_deeply_nested_json_is_a_clear_4xx_and_marks_only_its_pipeline_invalid(
    server: LiveServer, pipelines_dir: Path
) -> None:
    deep = "[" * 50_000 + "]" * 50_000
    (pipelines_dir / "nested").mkdir()
    (pipelines_dir / "nested" / "main.py").write_text("print(1)\n")
    (pipelines_dir / "nested" / "pipeline.json").write_text(deep)
    with server.client() as c:
        listed = c.get("/api/pipelines")
        assert listed.status_code == 200, listed.text
        by_name = {p["name"]: p for p in listed.json()}
        assert "depth limit" in by_name["nested"]["error"]
        assert by_name["hello"]["valid"] is True
        assert c.get("/api/pipelines/nested").status_code == 200
        token = c.post("/api/webhooks/inbound", json={"pipeline": "hello"}).json()["token"]
    r = httpx.post(
        f"{server.url}/api/hooks/hello",
        headers={"X-Fastflow-Token": token, "Content-Type": "application/json"},
        content='{"parameters": ' + deep + "}",
    )
    assert r.status_code == 422, r.text
    assert "not valid JSON" in r.json()["detail"]


def test_outbound_urls_are_checked_and_a_broken_one_never_spins_the_delivery_loop(
    hook_server: LiveServer,
) -> None:
    receiver = Receiver([])
    try:
        with hook_server.client() as c:
            for bad in (
                "http://127.0.0.1/a\r\nX-Injected: 1",
                " http://127.0.0.1/a",
                "http://127.0.0.1/a b",
                "http://127.0.0.1\t/a",
                "http://127.0.0.1:port/a",
                "ftp://127.0.0.1/a",
            ):
                r = c.post("/api/webhooks/outbound", json={"url": bad})
                assert r.status_code == 422, (bad, r.text)
            good = c.post("/api/webhooks/outbound", json={"url": receiver.url}).json()
            # A webhook stored before URLs were checked (an older server wrote it).
            broken = hook_server.services.webhook_store.add_webhook(
                OutboundWebhook(url="http://127.0.0.1:1\r\n/x", salt="s")
            )
            run = c.post("/api/pipelines/hello/run", json={}).json()
            wait_for_run(c, run["id"])
            poll(lambda: receiver.requests, "the good webhook's delivery")
            failed = poll(
                lambda: [
                    d
                    for d in c.get(f"/api/webhooks/outbound/{broken.id}/deliveries").json()
                    if d["attempts"] >= 1
                ],
                "the broken webhook's attempt",
            )
            assert failed[0]["last_error"]
            time.sleep(1.5)  # long enough for a spinning loop to try hundreds of times
            [delivery] = c.get(f"/api/webhooks/outbound/{broken.id}/deliveries").json()
            assert delivery["attempts"] <= 3  # WEBHOOK_MAX_ATTEMPTS, backoff from 0.2 s
            done = c.get(f"/api/webhooks/outbound/{good['id']}/deliveries").json()
            assert [d["status"] for d in done] == ["delivered"]
    finally:
        receiver.close()
    assert len(receiver.requests) == 1  # the good webhook's delivery was sent once


def test_a_replayed_hook_delivery_starts_no_second_run_and_the_body_limit_is_the_documented(
    server: LiveServer,
) -> None:
    url = f"{server.url}/api/hooks/hello"
    with server.client() as c:
        token = c.post("/api/webhooks/inbound", json={"pipeline": "hello"}).json()["token"]
        before = len(c.get("/api/runs", params={"pipeline": "hello"}).json()["items"])
    body = json.dumps({"parameters": {"NAME": "once"}}).encode()
    signed = {
        "X-Hub-Signature-256": "sha256="
        + hmac.new(token.encode(), body, hashlib.sha256).hexdigest(),
        "Content-Type": "application/json",
    }
    first = httpx.post(url, content=body, headers={**signed, "X-GitHub-Delivery": "d-1"})
    assert first.status_code == 202, first.text
    again = httpx.post(url, content=body, headers={**signed, "X-GitHub-Delivery": "d-1"})
    assert again.status_code == 409 and "received before" in again.json()["detail"]
    # The same signed body without a delivery id is a replay too.
    assert httpx.post(url, content=body, headers=signed).status_code == 202
    assert httpx.post(url, content=body, headers=signed).status_code == 409
    # A new delivery of the same event is a new run.
    other = httpx.post(url, content=body, headers={**signed, "X-GitHub-Delivery": "d-2"})
    assert other.status_code == 202
    with server.client() as c:
        after = len(c.get("/api/runs", params={"pipeline": "hello"}).json()["items"])
    assert after - before == 3
    # The documented limit (5 MB) is the enforced one: 2 MB passes, 6 MB is a 413.
    tokened = {"X-Fastflow-Token": token, "Content-Type": "application/octet-stream"}
    assert httpx.post(url, content=b"x" * (2 * 1024 * 1024), headers=tokened).status_code == 202
    big = httpx.post(url, content=b"x" * (6 * 1024 * 1024), headers=tokened)
    assert big.status_code == 413
