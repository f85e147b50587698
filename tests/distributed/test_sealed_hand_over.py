"""A remote run's secrets come with its claim, sealed in Redis for the claim holder; a run
whose sealed secrets are not there (sent by an older server, ...) gets them over HTTP."""

from __future__ import annotations

import logging
import time

import pytest

from tests.distributed.conftest import Cluster
from tests.integration.test_secrets import SECRET, _store
from tests.support.server import start_run, wait_for_run

SQLITE_ONLY = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_secrets_come_sealed_with_the_claim_or_over_http(
    cluster: Cluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fastflow.audit")
    with cluster.server.client() as client:
        _store(client)
        sealed = start_run(client, "print_secret")
        asked = start_run(client, "print_secret")
        hashes = {i: f"{cluster.prefix}:run:{i}:secrets" for i in (sealed, asked)}
        _wait_sent(cluster, [sealed, asked])
        # Sent with the runs, before any worker: sealed, nothing readable in the clear.
        for key in hashes.values():
            fields = cluster.redis.hgetall(key)
            assert fields[b"keys"] == b"API_KEY,OTHER_SECRET", fields
            assert SECRET.encode() not in b"".join(fields.values())
        cluster.redis.delete(hashes[asked])  # as if sent by a server that does not seal
        worker = cluster.worker("w1")
        for run_id in (sealed, asked):
            run = wait_for_run(client, run_id, timeout=90)
            assert (run["status"], run["worker"]) == ("FAILED", "w1")
            text = client.get(f"/api/runs/{run_id}/logs").text
            assert "whole: ***" in text and SECRET not in text
            assert not cluster.redis.exists(hashes[run_id])  # nothing left once it started
    output = worker.output()
    assert f"run {sealed}: secrets handed over with its claim" in output
    assert f"run {asked}: secrets handed over" not in output
    audit = sorted(r.getMessage() for r in caplog.records if r.name == "fastflow.audit")
    assert audit == sorted(
        f"worker w1 fetched the secrets of run {i} (print_secret): API_KEY, OTHER_SECRET"
        for i in (sealed, asked)
    )


def _wait_sent(cluster: Cluster, run_ids: list[str], timeout: float = 30) -> None:
    """Until the server sent the runs' messages (their `queued` markers are set)."""
    deadline = time.monotonic() + timeout
    while not all(cluster.redis.exists(f"{cluster.prefix}:run:{i}:queued") for i in run_ids):
        assert time.monotonic() < deadline, "the runs were not sent"
        time.sleep(0.05)
