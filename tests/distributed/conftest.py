"""A fastflow server with DISPATCHER=celery and real `fastflow worker` processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from fastflow.settings import Settings
from tests.support.server import LiveServer, start_server
from tests.support.workers import Worker, celery_overrides, clear_prefix, redis_or_skip


class Cluster:
    """A live server plus the workers a test started; everything stopped at the end."""

    def __init__(self, server: LiveServer, redis_client: redis.Redis, tmp: Path, uv: Path):
        self.server = server
        self.redis = redis_client
        self.prefix = server.settings.redis_prefix
        self.tmp = tmp
        self.uv_cache = uv
        self.workers: list[Worker] = []

    def worker(self, name: str, ready: bool = True, **kwargs: object) -> Worker:
        w = Worker(
            name,
            self.tmp / name,
            self.server.url,
            self.prefix,
            self.uv_cache,
            **kwargs,  # type: ignore[arg-type]
        )
        self.workers.append(w)
        if ready:
            w.wait_ready(self.redis, self.prefix)
        return w

    def start_workers(self, *specs: tuple[str, dict[str, object]]) -> list[Worker]:
        """Start several workers at once (each takes seconds to boot), then wait for all."""
        started = [self.worker(name, ready=False, **kwargs) for name, kwargs in specs]
        for w in started:
            w.wait_ready(self.redis, self.prefix)
        return started

    def close(self) -> None:
        for w in self.workers:
            w.stop()


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    client = redis_or_skip()
    yield client
    client.close()


@pytest.fixture
def cluster(
    make_settings: Callable[..., Settings],
    redis_client: redis.Redis,
    tmp_path: Path,
    uv_cache: Path,
) -> Iterator[Cluster]:
    settings = make_settings(**celery_overrides())
    live = start_server(settings)
    c = Cluster(live, redis_client, tmp_path, uv_cache)
    try:
        yield c
    finally:
        c.close()
        live.stop()
        clear_prefix(redis_client, settings.redis_prefix)
