"""The ingest's wake-ups: a burst of submissions costs one XADD per round, and a wake-up
sent before the round's read began still ends that read at once."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import redis.asyncio as aredis

from fastflow.dispatch import celery_ingest
from fastflow.dispatch.celery_ingest import StreamIngest
from fastflow.dispatch.redis_keys import RedisKeys
from fastflow.records import Run
from tests.support.workers import TEST_REDIS_URL, clear_prefix, redis_or_skip


class _NoRuns:
    """The run store of a server with no active run."""

    def active(self) -> list[Run]:
        return []

    def get_many(self, run_ids: list[str]) -> list[Run]:
        return []


@pytest.fixture
def sync_redis() -> Iterator[redis.Redis]:
    client = redis_or_skip()
    yield client
    client.close()


async def test_a_burst_of_pokes_sends_one_wake_up_per_round(
    sync_redis: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A read that missed its wake-up would wait this long: the test would time out.
    monkeypatch.setattr(celery_ingest, "_IDLE_BLOCK_MS", 600_000)
    keys = RedisKeys(f"fftest-{uuid.uuid4().hex[:10]}")
    client = aredis.Redis.from_url(TEST_REDIS_URL)
    none: Any = None
    ingest = StreamIngest(_NoRuns(), none, none, none, keys, client, sync_redis)  # type: ignore[arg-type]
    try:
        first = asyncio.create_task(ingest.step())  # blocks in its read: no wake-up yet
        await asyncio.sleep(0.1)
        pokes = [threading.Thread(target=ingest.poke, args=(f"run{i}",)) for i in range(50)]
        for t in pokes:
            t.start()
        for t in pokes:
            t.join()
        await asyncio.wait_for(first, timeout=60)  # woken
        await asyncio.gather(*ingest._wakes)  # the XADD sent, if still under way
        assert sync_redis.xlen(keys.ingest_wake) == 1  # 50 submissions, one wake-up
        assert len(ingest._fresh) == 50  # followed by the next round

        # A wake-up that went out before a round's read began ends that read at once.
        sync_redis.xadd(keys.ingest_wake, {"w": "1"}, maxlen=16)
        await asyncio.wait_for(ingest.step(), timeout=60)
        assert not ingest._fresh  # every submitted run was looked at
    finally:
        await client.aclose()
        clear_prefix(sync_redis, keys.prefix)
