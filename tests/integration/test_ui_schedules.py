"""The schedules page with NiceGUI's `User`: the cron expression in words, the next five
fire times, parameters as a form from the pipeline's declared ones, and its own runs."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI

from fastflow.models import TriggerType
from fastflow.scheduler.service import ScheduleSpec
from tests.integration.test_ui_user import app, logged_in, services  # noqa: F401

RETRIES = 100


async def test_schedule_form_reads_cron_and_fills_declared_parameters(
    app: FastAPI,  # noqa: F811
) -> None:
    svc = services(app)
    user = await logged_in(app)
    await user.open("/schedules")
    user.find(marker="schedule-new").click()
    user.find(marker="schedule-pipeline").elements.pop().set_value("docker_probe")
    user.find(marker="schedule-value").clear().type("0 6 * * 1-5")
    await user.should_see("At 06:00 AM, Monday through Friday", retries=RETRIES)
    # The declared parameters are fields with their defaults, not a JSON box.
    [who] = user.find(marker="param-WHO").elements
    assert who.value == "nobody"  # type: ignore[attr-defined]
    user.find(marker="param-WHO").clear().type("tester")
    user.find(marker="schedule-save").click()
    await user.should_see("cron 0 6 * * 1-5", retries=RETRIES)
    [row] = svc.schedules.all()
    assert row.parameters == {"WHO": "tester"}
    # The card: in words, and the next five fire times, on weekdays at 06:00 UTC.
    await user.should_see("At 06:00 AM, Monday through Friday")
    upcoming = svc.scheduler.upcoming(row, 5)
    assert len(upcoming) == 5
    assert all(t.hour == 6 and t.weekday() < 5 for t in upcoming)
    await user.should_see(upcoming[0].strftime("%a %Y-%m-%d %H:%M:%S %Z"))
    # Editing shows the stored value in the field.
    user.find(marker="schedule-edit").click()
    [who] = user.find(marker="param-WHO").elements
    assert who.value == "tester"  # type: ignore[attr-defined]


async def test_schedule_card_lists_its_own_runs(app: FastAPI) -> None:  # noqa: F811
    svc = services(app)
    row = svc.scheduler.create(
        ScheduleSpec(pipeline_name="hello", trigger_type=TriggerType.INTERVAL, trigger_value="5400")
    )
    manual = svc.run_service.start("hello")  # not in the schedule's history
    for _ in range(1200):
        if svc.runs.get(manual.id).status not in ("PENDING", "RUNNING"):
            break
        await asyncio.sleep(0.05)
    svc.scheduler.tick(row.id)  # as the clock would (else skipped: a run is still going)
    for _ in range(400):
        history = svc.scheduler.history(row.id)
        if history:
            break
        await asyncio.sleep(0.05)
    [run] = history
    assert run.schedule_id == row.id
    user = await logged_in(app)
    await user.open("/schedules")
    await user.should_see("Every 1 h 30 min")
    [strip] = user.find(marker="schedule-history").elements
    links = [c for c in strip.descendants() if getattr(c, "props", {}).get("href")]
    assert [link.props["href"] for link in links] == [f"/runs/{run.id}"]
