"""A fastflow server with DISPATCHER=celery and real `fastflow worker` processes."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from fastflow.settings import Settings
from tests.support.netns import NetnsHost, netns_host
from tests.support.redis_server import OwnRedis
from tests.support.server import LiveServer, start_server
from tests.support.services import passable_temp
from tests.support.workers import (
    TEST_REDIS_URL,
    Worker,
    celery_overrides,
    clear_prefix,
    redis_or_skip,
)


class Cluster:
    """A live server plus the workers a test started; everything stopped at the end."""

    def __init__(
        self,
        server: LiveServer,
        redis_client: redis.Redis,
        tmp: Path,
        uv: Path,
        redis_url: str = TEST_REDIS_URL,
    ):
        self.server = server
        self.redis = redis_client
        self.redis_url = redis_url
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
            redis_url=self.redis_url,
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


class OwnCluster(Cluster):
    """A cluster on a Redis of its own (to restart, or to MONITOR), optionally on a veth
    address so that a worker can run in a network namespace — another "machine"."""

    def __init__(
        self,
        server: LiveServer,
        own: OwnRedis,
        tmp: Path,
        uv: Path,
        netns: NetnsHost | None = None,
    ) -> None:
        super().__init__(server, own.client(), tmp, uv, redis_url=own.url)
        self.own_redis = own
        self.netns = netns
        # Everything of the server (data, logs, database, pipelines) is under this folder.
        self.server_root = server.settings.data_dir.parent

    def ns_worker(self, name: str, ready: bool = True, **kwargs: object) -> Worker:
        """A worker inside the namespace: reaches Redis and the server only over the veth
        link, has its own data folder and uv cache, and cannot see the server's folders."""
        assert self.netns is not None
        return self.worker(
            name,
            ready=ready,
            prefix_cmd=self.netns.command([], hide=[self.server_root]),
            env_extra={"UV_CACHE_DIR": str(self.tmp / name / "uv-cache")},
            **kwargs,
        )


@contextlib.contextmanager
def own_cluster(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    workers_dir: Path,
    uv_cache: Path,
    netns: NetnsHost | None = None,
    persistent: bool = False,
) -> Iterator[OwnCluster]:
    host = netns.host_addr if netns is not None else "127.0.0.1"
    own = OwnRedis(workers_dir / "redis", host=host, persistent=persistent)
    settings = make_settings(**(celery_overrides() | {"REDIS_URL": own.url}))
    # The namespace hides tmp_path: it must hold all of the server's folders.
    assert settings.data_dir.parent == tmp_path and settings.logs_dir.parent == tmp_path
    live = start_server(settings, host=host)
    c = OwnCluster(live, own, workers_dir, uv_cache, netns)
    try:
        yield c
    finally:
        c.close()
        live.stop()
        c.redis.close()
        own.stop()


@pytest.fixture(scope="session")
def netns() -> Iterator[NetnsHost]:
    """One namespace host per test session (unique names), removed at the end."""
    with netns_host() as host:
        yield host


@pytest.fixture
def ns_cluster(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    uv_cache: Path,
    netns: NetnsHost,
) -> Iterator[OwnCluster]:
    """Server and Redis on the host side of the veth link; workers inside and outside."""
    # Worker folders live outside tmp_path: tmp_path is the server's, hidden from the ns.
    workers_dir = passable_temp(tmp_path_factory, "ns-workers")
    with own_cluster(make_settings, tmp_path, workers_dir, uv_cache, netns) as c:
        yield c


@pytest.fixture
def make_own_cluster(
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    uv_cache: Path,
) -> Iterator[Callable[[bool], OwnCluster]]:
    """`make(persistent)`: a cluster on a loopback Redis of its own."""
    with contextlib.ExitStack() as stack:

        def make(persistent: bool = False) -> OwnCluster:
            workers_dir = passable_temp(tmp_path_factory, "own-workers")
            return stack.enter_context(
                own_cluster(make_settings, tmp_path, workers_dir, uv_cache, None, persistent)
            )

        yield make
