"""Runs through the real HTTP API, executed as real processes under uv-built environments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import LiveServer, wait_for_run


def start(client: httpx.Client, pipeline: str, **params: Any) -> dict[str, Any]:
    r = client.post(f"/api/pipelines/{pipeline}/run", json={"parameters": params})
    assert r.status_code == 202, r.text
    run: dict[str, Any] = r.json()
    assert run["status"] == "PENDING"
    assert run["status_url"] == f"/api/runs/{run['id']}"
    return run


def test_hello_runs_and_its_output_is_logged(client: httpx.Client) -> None:
    run = wait_for_run(client, start(client, "hello", NAME="fastflow")["id"])
    assert run["status"] == "SUCCESS"
    assert run["exit_code"] == 0
    assert run["failure_kind"] is None
    assert run["progress"] == 100
    assert run["uv_version"] and run["uv_version"].count(".") == 2  # e.g. "0.13.9"
    assert run["setup_duration"] is not None
    assert run["trigger"] == "api" and run["triggered_by"] == "admin"
    assert run["started_at"] and run["finished_at"] and run["duration_seconds"] is not None
    text = client.get(f"/api/runs/{run['id']}/logs").text
    assert text.startswith("Hello, fastflow!\n")
    assert f"run {run['id']} of pipeline hello" in text


def test_requirements_are_installed_once_and_reused(client: httpx.Client) -> None:
    first = wait_for_run(client, start(client, "with_requirements")["id"])
    assert first["status"] == "SUCCESS", client.get(f"/api/runs/{first['id']}/logs").text
    assert "extract" in client.get(f"/api/runs/{first['id']}/logs").text
    second = wait_for_run(client, start(client, "with_requirements")["id"])
    assert second["status"] == "SUCCESS"
    assert second["setup_duration"] == 0.0  # the environment of the first run was reused
    setup_lines = [e for e in _events(client, second["id"]) if e.get("stream") == "setup"]
    assert setup_lines == []


def test_inline_pep723_dependencies(client: httpx.Client) -> None:
    run = wait_for_run(client, start(client, "inline_dep")["id"])
    assert run["status"] == "SUCCESS"
    assert "six 1.16.0" in client.get(f"/api/runs/{run['id']}/logs").text


def test_failures_are_classified(client: httpx.Client) -> None:
    failing = wait_for_run(client, start(client, "failing")["id"])
    assert (failing["status"], failing["exit_code"], failing["failure_kind"]) == (
        "FAILED",
        3,
        "EXIT_NONZERO",
    )
    assert "something went wrong" in client.get(f"/api/runs/{failing['id']}/logs").text
    assert failing["error_message"] == "exited with code 3"

    setup = wait_for_run(client, start(client, "setup_fails")["id"])
    assert (setup["status"], setup["failure_kind"]) == ("FAILED", "SETUP")
    assert "install dependencies" in setup["error_message"]

    notfound = wait_for_run(client, start(client, "exit_code", CODE=127)["id"])
    assert notfound["failure_kind"] == "COMMAND_NOT_FOUND"


def test_memory_hard_limit_kills_the_run_as_oom(client: httpx.Client) -> None:
    run = wait_for_run(client, start(client, "memory_hog")["id"])
    assert (run["status"], run["failure_kind"], run["exit_code"]) == ("FAILED", "OOM", 137)
    metrics = client.get(f"/api/runs/{run['id']}/metrics").json()
    assert metrics and metrics[-1]["ram_limit_mb"] == 150.0
    assert max(m["ram_mb"] for m in metrics) > 150
    assert any(m["ram_soft_limit_exceeded"] and m["soft_limit_exceeded"] for m in metrics)
    assert all(m["ram_soft_limit_exceeded"] == (m["ram_mb"] > 60) for m in metrics)
    assert "allocated 4 GB" not in client.get(f"/api/runs/{run['id']}/logs").text


def test_timeout_stops_the_run(client: httpx.Client) -> None:
    run = wait_for_run(client, start(client, "slow_timeout")["id"])
    assert run["status"] == "TIMED_OUT"
    assert "timed out after 1s" in run["error_message"]


def test_cancel_sends_sigterm_then_sigkill(client: httpx.Client) -> None:
    run = start(client, "ignore_term")
    _wait_for_line(client, run["id"], "started")
    r = client.post(f"/api/runs/{run['id']}/cancel")
    assert r.status_code == 200
    done = wait_for_run(client, run["id"])
    assert done["status"] == "CANCELLED"
    assert done["exit_code"] == 137  # ignored SIGTERM, so SIGKILL after the grace period
    text = client.get(f"/api/runs/{run['id']}/logs").text
    assert "got SIGTERM, ignoring it" in text
    assert "SIGKILL" in text
    again = client.post(f"/api/runs/{run['id']}/cancel")
    assert again.status_code == 409


def test_retries_create_linked_attempts(client: httpx.Client) -> None:
    first = wait_for_run(client, start(client, "flaky")["id"])
    assert first["status"] == "FAILED" and first["max_attempts"] == 3
    page = _wait_for_children(client, first["id"])
    second = wait_for_run(client, page[0]["id"])
    assert second["status"] == "SUCCESS"
    assert (second["attempt"], second["trigger"], second["parent_run_id"]) == (
        2,
        "retry",
        first["id"],
    )
    stats = client.get("/api/pipelines/flaky/stats").json()
    assert (stats["total_runs"], stats["successful_runs"], stats["failed_runs"]) == (2, 1, 1)
    manual = client.post(f"/api/runs/{second['id']}/retry")
    assert manual.status_code == 202
    assert manual.json()["attempt"] == 3


def test_odd_output_is_stored_safely(client: httpx.Client) -> None:
    run = wait_for_run(client, start(client, "odd_output", LONG_LINE_MB=3)["id"])
    assert run["status"] == "SUCCESS"
    text = client.get(f"/api/runs/{run['id']}/logs").text
    lines = text.split("\n")
    assert lines[0] == "valid line"
    assert lines[1] == "bad bytes: \\xff\\xfe end"
    assert lines[2] == "x" * (3 * 1024 * 1024)  # the 3 MB line, whole, from 1 MB fragments
    assert lines[3] == "after the long line"
    assert lines[4] == "no newline at the end"
    fragments = [e for e in _events(client, run["id"]) if e.get("partial")]
    # Cut at 1 MiB each: at least two partial fragments (where the pipe's reads end decides
    # whether the last MiB or an empty tail closes the line), none over the limit.
    assert len(fragments) in (2, 3)
    assert all(len(e["line"]) <= 1024 * 1024 for e in fragments)


def test_logs_by_seq_range_and_tail(client: httpx.Client) -> None:
    run = wait_for_run(client, start(client, "sleeper", SECONDS_TO_RUN=0.5)["id"])
    events = _events(client, run["id"])
    logs = [e for e in events if e["type"] == "log"]
    seqs = [e["seq"] for e in events]
    assert seqs == list(range(1, len(seqs) + 1))
    a, b = logs[1]["seq"], logs[3]["seq"]
    part = client.get(f"/api/runs/{run['id']}/logs", params={"from_seq": a, "to_seq": b})
    assert part.text == "".join(e["line"] + "\n" for e in logs if a <= e["seq"] <= b)
    tail = client.get(f"/api/runs/{run['id']}/logs", params={"tail": 2}).text
    assert tail == "".join(e["line"] + "\n" for e in logs[-2:])
    bad = client.get(f"/api/runs/{run['id']}/logs", params={"from_seq": 5, "to_seq": 2})
    assert bad.status_code == 422
    kinds = {e["type"] for e in events}
    assert {"status", "log", "complete"} <= kinds
    assert events[-1]["type"] == "complete" and events[-1]["success"] is True


def test_run_env_does_not_leak_server_secrets(client: httpx.Client, server: LiveServer) -> None:
    run = wait_for_run(client, start(client, "env_check", MY_PARAM="x")["id"])
    names = json.loads(client.get(f"/api/runs/{run['id']}/logs").text.splitlines()[0])
    assert "MY_PARAM" in names and "FASTFLOW_RUN_ID" in names
    assert "FASTFLOW_ADMIN_PASSWORD" not in names and "DATABASE_URL" not in names
    cwd = client.get(f"/api/runs/{run['id']}/logs").text.splitlines()[1]
    assert cwd.endswith(f"{run['id']}/work")


def _events(client: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/api/runs/{run_id}/events/history")
    return [json.loads(line) for line in r.text.splitlines()]


def _wait_for_line(client: httpx.Client, run_id: str, text: str) -> None:
    import time

    deadline = time.monotonic() + 30
    while text not in client.get(f"/api/runs/{run_id}/logs").text:
        assert time.monotonic() < deadline, f"{text!r} never appeared"
        time.sleep(0.05)


def _wait_for_children(client: httpx.Client, run_id: str) -> list[dict[str, Any]]:
    import time

    deadline = time.monotonic() + 30
    while True:
        runs = client.get("/api/runs", params={"pipeline": "flaky"}).json()["items"]
        children = [r for r in runs if r["parent_run_id"] == run_id]
        if children:
            return children
        assert time.monotonic() < deadline, "no retry was created"
        time.sleep(0.05)


def test_retrying_a_run_of_a_disabled_pipeline_is_refused_like_starting_one(
    client: httpx.Client,
) -> None:
    run = wait_for_run(client, start(client, "hello")["id"])
    assert client.post("/api/pipelines/hello/disable").status_code == 200
    r = client.post(f"/api/runs/{run['id']}/retry")
    assert r.status_code == 409 and "disabled" in r.json()["detail"]
    assert client.post("/api/pipelines/hello/run", json={}).status_code == 409
    assert client.post("/api/pipelines/hello/enable").status_code == 200
    assert client.post(f"/api/runs/{run['id']}/retry").status_code in (200, 201, 202)


def test_a_local_run_silent_past_its_health_timeout_fails_unhealthy(
    client: httpx.Client, pipelines_dir: Path
) -> None:
    # Silent for 600 s after one line, health_timeout 1 s (as the docker executor's test).
    run = start(client, "silent")
    _wait_for_line(client, run["id"], "started")
    health = client.get(f"/api/runs/{run['id']}/health").json()
    assert health["checked"] is True and health["health_timeout"] == 1
    assert health["seconds_since_output"] is not None
    done = wait_for_run(client, run["id"], timeout=60)
    assert (done["status"], done["failure_kind"]) == ("FAILED", "UNHEALTHY")
    assert "no output or progress" in done["error_message"]
    after = client.get(f"/api/runs/{run['id']}/health").json()
    assert after["checked"] is False and after["reason"] == "the run has finished"
    # Progress counts as a sign of life: a run that reports it is left alone.
    (pipelines_dir / "progressing.py").write_text(
        "import time\nfor i in range(6):\n    print(f'::progress {i * 20}', flush=True)\n"
        "    time.sleep(0.5)\n"
    )
    (pipelines_dir / "progressing.json").write_text('{"health_timeout": 1}')
    steady = wait_for_run(client, start(client, "progressing")["id"], timeout=60)
    assert steady["status"] == "SUCCESS", steady
