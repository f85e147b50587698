"""The embedded dispatcher's express way: a run submitted while a slot is free and nothing
waits is claimed by the submitting thread itself; otherwise runs wait their turn, oldest
first, and none starts past the concurrency limit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any, cast

import pytest

from fastflow.dispatch.embedded import EmbeddedDispatcher
from fastflow.records import Run, utcnow
from fastflow.runs.engine import RunEngine
from fastflow.settings import Settings
from fastflow.storage.database import Database
from fastflow.storage.run_store import RunStore


class _Engine:
    """Stands in for the run engine: an execution ends when the test says so."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.release: dict[str, asyncio.Event] = {}
        self.active_run_ids: list[str] = []

    async def execute(self, run: Run) -> None:
        self.started.append(run.id)
        event = self.release.setdefault(run.id, asyncio.Event())
        await event.wait()

    def keeps_on_shutdown(self, _run_id: str) -> bool:
        return False

    def request_cancel(self, run_id: str, _reason: str = "") -> bool:
        self.release.setdefault(run_id, asyncio.Event()).set()
        return True


@pytest.fixture
def store(make_settings: Callable[..., Settings]) -> Iterator[RunStore]:
    db = Database(make_settings().sqlalchemy_url)
    try:
        yield RunStore(db)
    finally:
        db.dispose()


@pytest.fixture
def engine() -> _Engine:
    return _Engine()


@pytest.fixture
async def dispatcher(store: RunStore, engine: _Engine) -> AsyncIterator[EmbeddedDispatcher]:
    """Started, its first round done (it found nothing waiting); at most two runs at once."""
    dispatcher = EmbeddedDispatcher(store, cast(RunEngine, engine), 2)
    await dispatcher.start()
    await _until(lambda: not dispatcher._waiting)
    try:
        yield dispatcher
    finally:
        for event in engine.release.values():
            event.set()
        await dispatcher.stop()


async def _until(check: Callable[[], Any]) -> None:
    for _ in range(3000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition never held")


async def test_a_run_is_claimed_by_the_submitting_thread_when_a_slot_is_free(
    store: RunStore,
) -> None:
    engine = _Engine()
    dispatcher = EmbeddedDispatcher(store, cast(RunEngine, engine), 1)
    await dispatcher.start()
    await _until(lambda: not dispatcher._waiting)  # its first round found nothing waiting
    try:
        first = store.create(Run(pipeline_name="p"))
        await asyncio.to_thread(dispatcher.submit, first.id)
        # Claimed before `submit` returned: no round of the claim loop was needed.
        assert store.get(first.id).status == "RUNNING"
        await _until(lambda: engine.started == [first.id])

        # The slot is taken: the next runs wait, and the older goes first.
        older = store.create(Run(pipeline_name="p", created_at=utcnow()))
        await asyncio.to_thread(dispatcher.submit, older.id)
        newer = store.create(Run(pipeline_name="p", created_at=utcnow() + timedelta(seconds=1)))
        await asyncio.to_thread(dispatcher.submit, newer.id)
        assert store.get(older.id).status == "PENDING"
        assert store.get(newer.id).status == "PENDING"
        engine.release.setdefault(first.id, asyncio.Event()).set()
        await _until(lambda: engine.started == [first.id, older.id])
        assert store.get(newer.id).status == "PENDING"  # never past the limit
        engine.release.setdefault(older.id, asyncio.Event()).set()
        await _until(lambda: engine.started == [first.id, older.id, newer.id])
    finally:
        for event in engine.release.values():
            event.set()
        await dispatcher.stop()


async def test_a_run_cancelled_before_the_express_claim_is_not_started(
    store: RunStore, engine: _Engine, dispatcher: EmbeddedDispatcher
) -> None:
    run = store.create(Run(pipeline_name="p"))
    assert store.cancel_pending(run.id)
    await asyncio.to_thread(dispatcher.submit, run.id)
    await asyncio.sleep(0.1)
    assert engine.started == []
    assert dispatcher._reserved == 0  # its slot was given back
    assert store.get(run.id).status == "CANCELLED"


async def test_a_submit_on_the_event_loop_leaves_the_claim_to_the_loop(
    store: RunStore, engine: _Engine, dispatcher: EmbeddedDispatcher
) -> None:
    run = store.create(Run(pipeline_name="p"))
    dispatcher.submit(run.id)  # no database write on the loop: the claim loop's round
    assert store.get(run.id).status == "PENDING"
    await _until(lambda: engine.started == [run.id])
