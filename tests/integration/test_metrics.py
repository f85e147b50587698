"""`/metrics` scraped over HTTP and parsed with the Prometheus text parser."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families

from fastflow.monitoring import count_gap
from fastflow.settings import Settings
from tests.support.server import start_server, wait_for_run


def _scrape(url: str, token: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def test_metrics_report_runs_queue_durations_streams_and_health(
    make_settings: Callable[..., Settings],
) -> None:
    server = start_server(make_settings(METRICS_TOKEN="scrape-token-123"))
    try:
        with server.client() as client:
            run = client.post("/api/pipelines/hello/run", json={}).json()
            assert wait_for_run(client, run["id"])["status"] == "SUCCESS"
            before = _scrape(server.url, "scrape-token-123")
            count_gap(7)
            server.services.monitoring.health.report("scheduler", ok=True)
            server.services.monitoring.health.report("gitsync", ok=False, detail="no remote")
            token = server.login()
            after = _scrape(server.url, token)  # a user token works as well
    finally:
        server.stop()

    assert after[("fastflow_runs", (("status", "SUCCESS"),))] == 1
    assert after[("fastflow_runs", (("status", "FAILED"),))] == 0
    assert after[("fastflow_queue_depth", ())] == 0
    assert after[("fastflow_run_duration_seconds_count", (("status", "SUCCESS"),))] == 1
    assert after[("fastflow_run_duration_seconds_sum", (("status", "SUCCESS"),))] > 0
    assert after[("fastflow_stream_clients", ())] == 0
    gap_key = ("fastflow_stream_gap_lines_total", ())
    assert after[gap_key] - before[gap_key] == 7
    assert after[("fastflow_component_up", (("component", "scheduler"),))] == 1
    assert after[("fastflow_component_up", (("component", "gitsync"),))] == 0
    assert (
        "fastflow_component_last_success_timestamp_seconds",
        (("component", "gitsync"),),
    ) not in after


def test_metrics_need_a_token(make_settings: Callable[..., Settings]) -> None:
    server = start_server(make_settings(METRICS_TOKEN="scrape-token-123"))
    try:
        assert httpx.get(f"{server.url}/metrics").status_code == 401
        bad = httpx.get(f"{server.url}/metrics", headers={"Authorization": "Bearer wrong"})
        assert bad.status_code == 401
    finally:
        server.stop()
