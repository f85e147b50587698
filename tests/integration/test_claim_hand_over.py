"""The worker's claim script on a real Redis: the claim holder alone gets the run's sealed
secrets; a second claim (a redelivered message, another worker) gets nothing; a run
cancelled before its start is not claimed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import redis

from fastflow.dispatch.redis_keys import CLAIM_TTL, RedisKeys
from fastflow.dispatch.sealed_secrets import CLAIM_SCRIPT, TAKER
from tests.support.workers import clear_prefix, redis_or_skip


@pytest.fixture
def keys() -> Iterator[tuple[redis.Redis, RedisKeys]]:
    client = redis_or_skip()
    prefix = f"fftest-{uuid.uuid4().hex[:10]}"
    yield client, RedisKeys(prefix)
    clear_prefix(client, prefix)
    client.close()


def _claim(client: redis.Redis, k: RedisKeys, run_id: str, worker: str) -> list[object]:
    script = client.register_script(CLAIM_SCRIPT)
    answer = script(keys=[k.claim(run_id), k.secrets(run_id), k.cancel(run_id)],
                    args=[worker, CLAIM_TTL])  # fmt: skip
    return list(answer)


def test_only_the_claim_holder_gets_the_sealed_secrets(
    keys: tuple[redis.Redis, RedisKeys],
) -> None:
    client, k = keys
    client.hset(k.secrets("r1"), mapping={"sealed": b"SEALED-BLOB", "keys": b"API_KEY"})
    assert _claim(client, k, "r1", "w1") == [2, b"SEALED-BLOB"]
    assert client.get(k.claim("r1")) == b"w1"
    assert 0 < client.ttl(k.claim("r1")) <= CLAIM_TTL
    # The sealed secrets left Redis with the claim; who took them stays for the audit log.
    assert client.hgetall(k.secrets("r1")) == {b"keys": b"API_KEY", TAKER.encode(): b"w1"}
    assert _claim(client, k, "r1", "w2") == [1]  # another worker: no claim, no secrets
    assert _claim(client, k, "r1", "w1") == [1]  # a redelivered copy on the same worker too
    assert client.get(k.claim("r1")) == b"w1"


def test_a_run_without_sealed_secrets_is_claimed_without_them(
    keys: tuple[redis.Redis, RedisKeys],
) -> None:
    client, k = keys
    assert _claim(client, k, "r2", "w1") == [2]
    assert client.get(k.claim("r2")) == b"w1"


def test_a_run_cancelled_before_its_start_is_not_claimed(
    keys: tuple[redis.Redis, RedisKeys],
) -> None:
    client, k = keys
    client.hset(k.secrets("r3"), mapping={"sealed": b"SEALED-BLOB"})
    client.set(k.cancel("r3"), "cancel requested")
    assert _claim(client, k, "r3", "w1") == [0, b"cancel requested"]
    assert client.get(k.claim("r3")) is None
    assert client.hget(k.secrets("r3"), "sealed") == b"SEALED-BLOB"  # nobody took them
