"""Schedules through the real API: APScheduler firing real runs, restarts, misfires, overlap."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from fastflow.records import Schedule
from fastflow.settings import Settings
from fastflow.storage.database import Database
from fastflow.storage.schedule_store import ScheduleStore
from tests.support.server import LiveServer, start_server, wait_for_run


def poll(check: Any, what: str, timeout: float = 30.0) -> Any:
    """Poll `check()` until it returns something truthy; fail the test on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def schedule_runs(client: httpx.Client, schedule_id: str) -> list[dict[str, Any]]:
    runs = client.get("/api/runs", params={"limit": 500}).json()["items"]
    return [r for r in runs if r["schedule_id"] == schedule_id]


def create(client: httpx.Client, **body: Any) -> dict[str, Any]:
    r = client.post("/api/schedules", json=body)
    assert r.status_code == 201, r.text
    out: dict[str, Any] = r.json()
    return out


def test_interval_schedule_starts_runs_marked_as_scheduled(client: httpx.Client) -> None:
    s = create(
        client,
        pipeline_name="hello",
        trigger_type="INTERVAL",
        trigger_value=1,
        parameters={"NAME": "cron"},
    )
    assert s["enabled"] and s["next_run_at"] and s["problem"] is None
    runs = poll(lambda: schedule_runs(client, s["id"]), "a scheduled run")
    run = wait_for_run(client, runs[-1]["id"])
    assert run["status"] == "SUCCESS"
    assert run["trigger"] == "schedule" and run["parameters"] == {"NAME": "cron"}
    assert "Hello, cron!" in client.get(f"/api/runs/{run['id']}/logs").text
    got = client.get(f"/api/schedules/{s['id']}").json()
    # Ticking every second, a later tick may have found a run still going (overlap: skip).
    assert got["last_outcome"] in ("started", "skipped") and got["last_run_id"] in {
        r["id"] for r in schedule_runs(client, s["id"])
    }
    assert got["last_run_at"] is not None

    off = client.post(f"/api/schedules/{s['id']}/disable").json()
    assert off["enabled"] is False and off["next_run_at"] is None
    count = len(schedule_runs(client, s["id"]))
    on = client.post(f"/api/schedules/{s['id']}/enable").json()
    assert on["enabled"] and on["next_run_at"]
    poll(lambda: len(schedule_runs(client, s["id"])) > count, "a run after re-enabling")
    assert client.delete(f"/api/schedules/{s['id']}").status_code == 204
    assert client.get(f"/api/schedules/{s['id']}").status_code == 404


INVALID = [
    ({"trigger_type": "CRON", "trigger_value": "61 * * * *"}, "trigger_value"),
    ({"trigger_type": "CRON", "trigger_value": "every day"}, "trigger_value"),
    ({"trigger_type": "INTERVAL", "trigger_value": "0"}, "trigger_value"),
    ({"trigger_type": "INTERVAL", "trigger_value": "soon"}, "trigger_value"),
    ({"trigger_type": "HOURLY", "trigger_value": "1"}, "trigger_type"),
    ({"trigger_type": "CRON", "trigger_value": "0 * * * *", "timezone": "Mars/Base"}, "timezone"),
    (
        {"trigger_type": "CRON", "trigger_value": "* * * * *", "pipeline_name": "no"},
        "pipeline_name",
    ),
    ({"trigger_type": "CRON", "trigger_value": "* * * * *", "parameters": {"1x": 1}}, "parameters"),
]


def test_invalid_schedules_are_a_422_naming_the_field(client: httpx.Client) -> None:
    for body, field in INVALID:
        r = client.post("/api/schedules", json={"pipeline_name": "hello", **body})
        assert r.status_code == 422, (body, r.text)
        assert field in r.json()["detail"], (body, r.json())
    assert client.get("/api/schedules").json() == []


def test_cron_schedule_in_a_timezone_and_update(client: httpx.Client) -> None:
    s = create(
        client,
        pipeline_name="hello",
        trigger_type="CRON",
        trigger_value="30 4 * * 1",
        timezone="Europe/Berlin",
    )
    berlin = ZoneInfo("Europe/Berlin")
    local = datetime.fromisoformat(s["next_run_at"]).astimezone(berlin)
    assert (local.weekday(), local.hour, local.minute) == (0, 4, 30)
    bad = client.put(f"/api/schedules/{s['id']}", json={"trigger_value": "x y z"})
    assert bad.status_code == 422 and "trigger_value" in bad.json()["detail"]
    r = client.put(f"/api/schedules/{s['id']}", json={"trigger_value": "0 0 1 1 *"})
    assert r.status_code == 200 and r.json()["trigger_value"] == "0 0 1 1 *"
    nxt = datetime.fromisoformat(r.json()["next_run_at"]).astimezone(berlin)
    assert (nxt.month, nxt.day, nxt.hour) == (1, 1, 0)


def test_schedules_survive_a_restart(settings: Settings) -> None:
    first = start_server(settings)
    try:
        with first.client() as c:
            s = create(c, pipeline_name="hello", trigger_type="INTERVAL", trigger_value="1")
            poll(lambda: schedule_runs(c, s["id"]), "a run before the restart")
    finally:
        first.stop()
    restarted_at = datetime.now(UTC)
    second = start_server(settings)
    try:
        with second.client() as c:
            assert [x["id"] for x in c.get("/api/schedules").json()] == [s["id"]]
            poll(
                lambda: [
                    r
                    for r in schedule_runs(c, s["id"])
                    if datetime.fromisoformat(r["created_at"]) > restarted_at
                ],
                "a run after the restart",
            )
    finally:
        second.stop()


def _stored_schedule(settings: Settings, late: timedelta, grace: int) -> str:
    """A schedule whose next tick was due `late` ago, as if the server had been down."""
    db = Database(settings.sqlalchemy_url)
    try:
        row = ScheduleStore(db).create(
            Schedule(
                pipeline_name="hello",
                trigger_type="INTERVAL",
                trigger_value="3600",
                misfire_grace_seconds=grace,
                next_run_at=datetime.now(UTC) - late,
            )
        )
        return row.id
    finally:
        db.dispose()


def test_misfires_within_grace_coalesce_into_one_run(settings: Settings) -> None:
    within = _stored_schedule(settings, timedelta(minutes=3), grace=600)
    beyond = _stored_schedule(settings, timedelta(hours=2), grace=60)
    live = start_server(settings)
    try:
        with live.client() as c:
            runs = schedule_runs(c, within)
            assert len(runs) == 1  # several missed ticks, one run
            s = c.get(f"/api/schedules/{within}").json()
            assert s["last_outcome"] == "started" and "missed tick" in s["last_message"]
            assert schedule_runs(c, beyond) == []
            b = c.get(f"/api/schedules/{beyond}").json()
            assert b["last_outcome"] == "missed" and "beyond the grace time" in b["last_message"]
            assert datetime.fromisoformat(b["next_run_at"]) > datetime.now(UTC)
    finally:
        live.stop()


def test_overlap_skip_records_skipped_ticks(client: httpx.Client) -> None:
    s = create(
        client,
        pipeline_name="sleeper",
        trigger_type="INTERVAL",
        trigger_value="1",
        parameters={"SECONDS_TO_RUN": "30"},
    )
    first = poll(lambda: schedule_runs(client, s["id"]), "the first run")[0]
    got = poll(
        lambda: (x := client.get(f"/api/schedules/{s['id']}").json())["skipped_count"] >= 2 and x,
        "two skipped ticks",
    )
    assert got["last_outcome"] == "skipped" and first["id"] in got["last_message"]
    assert len(schedule_runs(client, s["id"])) == 1
    client.post(f"/api/schedules/{s['id']}/disable")
    client.post(f"/api/runs/{first['id']}/cancel")


def test_overlap_queue_starts_the_held_tick_after_the_run(client: httpx.Client) -> None:
    s = create(
        client,
        pipeline_name="sleeper",
        trigger_type="INTERVAL",
        trigger_value="1",
        parameters={"SECONDS_TO_RUN": "2"},
        overlap_policy="queue",
    )
    first = poll(lambda: schedule_runs(client, s["id"]), "the first run")[0]
    poll(
        lambda: client.get(f"/api/schedules/{s['id']}").json()["last_outcome"] == "queued",
        "a queued tick",
    )
    runs = poll(lambda: len(x := schedule_runs(client, s["id"])) >= 2 and x, "the queued run")
    client.post(f"/api/schedules/{s['id']}/disable")
    done = wait_for_run(client, first["id"])
    second = min((r for r in runs if r["id"] != first["id"]), key=lambda r: r["created_at"])
    # The held tick started only once the first run had ended: no overlap.
    assert datetime.fromisoformat(second["created_at"]) >= datetime.fromisoformat(
        done["finished_at"]
    )
    for r in schedule_runs(client, s["id"]):
        client.post(f"/api/runs/{r['id']}/cancel")


def test_schedule_of_a_missing_pipeline_is_reported(server: LiveServer) -> None:
    with server.client() as c:
        s = create(c, pipeline_name="hello", trigger_type="INTERVAL", trigger_value="1")
        disabled = c.post("/api/pipelines/hello/disable").json()
        assert any(s["id"] in w for w in disabled["warnings"])
        c.post("/api/pipelines/hello/enable")
        (server.settings.pipelines_dir / "hello" / "main.py").unlink()
        got = poll(
            lambda: (
                (x := c.get(f"/api/schedules/{s['id']}").json())["last_outcome"] == "error" and x
            ),
            "the error recorded",
        )
        assert "not found" in got["last_message"] and "not found" in got["problem"]
        assert c.get("/health").json()["status"] == "ok"
