"""The light queries on a run's way to its end: many runs in one read, the run-finished
listeners' checks (webhooks, queued schedules), and a batch's secrets from one read."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import cast

import pytest

from fastflow.dispatch.ingest_parts import started_fields
from fastflow.models import RunStatus
from fastflow.records import OutboundWebhook, Run, Schedule, Secret, utcnow
from fastflow.runs.logs import RunLogs
from fastflow.runs.settlement import Settlement
from fastflow.secrets.crypto import SecretCipher
from fastflow.secrets.service import SecretService
from fastflow.secrets.store import SecretStore
from fastflow.storage.database import Database
from fastflow.storage.run_store import RunStore
from fastflow.storage.schedule_store import ScheduleStore
from fastflow.storage.webhook_store import WebhookStore
from fastflow.webhooks.outbound import OutboundWebhooks


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    yield database
    database.dispose()


def _finished(runs: RunStore, pipeline: str) -> Run:
    run = runs.create(Run(pipeline_name=pipeline))
    final = runs.finish(run.id, RunStatus.SUCCESS)
    assert final is not None
    return final


def test_get_many_keeps_the_order_asked_and_leaves_out_missing_and_impossible_ids(
    db: Database,
) -> None:
    runs = RunStore(db)
    a, b, c = (runs.create(Run(pipeline_name="p")) for _ in range(3))
    found = runs.get_many([c.id, "nope", a.id, "../x", c.id, b.id])
    assert [r.id for r in found] == [c.id, a.id, b.id]
    assert runs.get_many([]) == []
    many = [runs.create(Run(pipeline_name="p")).id for _ in range(1200)]  # over one IN (...)
    assert [r.id for r in runs.get_many(many)] == many


def test_mark_started_moves_a_pending_run_once_and_names_its_worker(db: Database) -> None:
    runs = RunStore(db)
    run = runs.create(Run(pipeline_name="p"))
    before = utcnow()
    assert runs.mark_started(run.id, "w1")
    assert not runs.mark_started(run.id, "w2")  # RUNNING already: not started twice
    row = runs.get(run.id)
    assert (row.status, row.worker) == (RunStatus.RUNNING.value, "w1")
    assert row.started_at is not None and row.started_at >= before
    with_progress = runs.create(Run(pipeline_name="p"))
    assert runs.mark_started(with_progress.id, "w1", progress=0, text="setting up")
    row = runs.get(with_progress.id)
    assert (row.status, row.progress, row.progress_text) == ("RUNNING", 0, "setting up")
    finished = _finished(runs, "p")
    assert not runs.mark_started(finished.id, "w1", progress=3, text="late")
    assert runs.get(finished.id).progress is None  # a finished run keeps its row
    assert not runs.mark_started(finished.id, "w1")
    assert runs.get(finished.id).status == RunStatus.SUCCESS.value


def test_webhook_ids_for_a_pipeline_are_its_own_and_the_global_enabled_ones(
    db: Database,
) -> None:
    store = WebhookStore(db)
    own = store.add_webhook(OutboundWebhook(url="http://a/", pipeline_name="p", salt="s"))
    everyone = store.add_webhook(OutboundWebhook(url="http://b/", salt="s"))
    store.add_webhook(OutboundWebhook(url="http://c/", pipeline_name="other", salt="s"))
    store.add_webhook(OutboundWebhook(url="http://d/", salt="s", enabled=False))
    assert sorted(store.webhook_ids_for("p")) == sorted([own.id, everyone.id])
    assert store.webhook_ids_for("q") == [everyone.id]


def test_a_webhook_created_after_a_burst_is_called_for_the_next_run(db: Database) -> None:
    """The listener asks the database for every run that ends: nothing remembered from the
    runs that found no webhook keeps a new one from being called."""
    runs, store = RunStore(db), WebhookStore(db)
    outbound = OutboundWebhooks(store, "k" * 32, "http://fastflow")
    for _ in range(20):
        outbound.run_finished(_finished(runs, "p"))
    assert store.due(utcnow()) == []
    hook, _secret = outbound.create("http://receiver/hook", "p")
    final = _finished(runs, "p")
    outbound.run_finished(final)
    due = store.due(utcnow())
    assert [(d.webhook_id, d.run_id) for d in due] == [(hook.id, final.id)]
    store.add_webhook(OutboundWebhook(url="http://off/", salt="s", enabled=False))
    outbound.run_finished(_finished(runs, "other"))  # only the disabled global one would match
    assert len(store.due(utcnow())) == 1


def test_any_queued_sees_a_tick_held_back_only_for_its_pipeline(db: Database) -> None:
    store = ScheduleStore(db)
    row = store.create(Schedule(pipeline_name="p", trigger_type="interval", trigger_value="60"))
    assert not store.any_queued("p")
    store.update(row.id, queued_at=utcnow())
    assert store.any_queued("p")
    assert not store.any_queued("q")
    store.update(row.id, queued_at=None)
    assert not store.any_queued("p")


class _CountingStore(SecretStore):
    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.reads = 0

    def all(self) -> list[Secret]:
        self.reads += 1
        return super().all()


def test_read_once_reads_the_store_once_in_its_block_and_thread_only(db: Database) -> None:
    store = _CountingStore(db)
    secrets = SecretService(store, SecretCipher(SecretCipher.generate_key()))
    secrets.create("TOKEN", "first", is_secret=True)
    with secrets.read_once():
        for _ in range(5):
            assert secrets.for_run(None).env == {"TOKEN": "first"}
        assert store.reads == 1
        other: list[str] = []  # another thread in the meantime reads the store itself
        secrets.update("TOKEN", "second", None)
        worker = threading.Thread(target=lambda: other.append(secrets.for_run(None).env["TOKEN"]))
        worker.start()
        worker.join()
        assert other == ["second"]
        assert store.reads == 2
    assert secrets.for_run(None).env == {"TOKEN": "second"}  # after the block: a fresh read
    assert store.reads == 3


@pytest.mark.parametrize(
    ("status", "progress", "text"), [("SUCCESS", 100, "setting up"), ("FAILED", 0, "setting up")]
)
def test_a_run_that_began_and_ended_in_one_read_is_settled_with_its_start_in_one_update(
    db: Database, status: str, progress: int, text: str
) -> None:
    runs = RunStore(db)
    settlement = Settlement(runs, cast(RunLogs, None))
    seen: list[Run] = []
    settlement.subscribe(seen.append)
    run = runs.create(Run(pipeline_name="p"))
    first = {"type": "status", "status": "RUNNING", "progress": 0, "text": "setting up"}
    started = started_fields("w1", [first])
    settlement.settle_remote(run, {"type": "complete", "status": status, "exit_code": 0}, started)
    row = runs.get(run.id)
    assert (row.status, row.worker, row.progress, row.progress_text) == (
        status,
        "w1",
        progress,
        text,
    )
    assert row.started_at is not None and row.finished_at is not None
    assert row.started_at <= row.finished_at
    assert [r.id for r in seen] == [run.id]  # the listeners heard of it once
    settlement.settle_remote(run, {"type": "complete", "status": status}, started)
    assert len(seen) == 1  # settled already: not again
