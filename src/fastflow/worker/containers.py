"""The docker executor of a worker, and the removal of containers whose worker died.

A worker's containers carry its id and its Redis prefix as labels. A container is an orphan
when no live worker executes its run any more: the run's claim is gone, or it belongs to a
worker whose heartbeat expired (`kill -9`, machine lost — the server settles such runs as
LOST), or to this very worker id without the run being active here (a worker restarted under
the same FASTFLOW_WORKER_NAME). Every worker removes the orphans of its prefix on the engine
it uses at start and then every `SWEEP_EVERY` seconds, so a container of a dead worker does
not run on for long once any worker on that engine is alive.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import redis

from fastflow.dispatch.redis_keys import RedisKeys
from fastflow.executors.docker_paths import WORKER_LABEL
from fastflow.executors.missing import MissingExtraExecutor, docker_executor
from fastflow.runs.ports import Executor
from fastflow.settings import Settings

log = logging.getLogger(__name__)

PREFIX_LABEL = "fastflow-redis-prefix"
SWEEP_EVERY = 60.0


def worker_docker_executor(settings: Settings, worker_id: str) -> Executor:
    """The server's construction of the executor, with this worker's labels added (without
    the docker extra: its stand-in, which fails docker runs with the install to do)."""
    return docker_executor(settings, {WORKER_LABEL: worker_id, PREFIX_LABEL: settings.redis_prefix})


def remove_orphans(
    docker: Executor,
    client: redis.Redis,
    keys: RedisKeys,
    worker_id: str,
    is_active: Callable[[str], bool],
) -> list[str]:
    """Remove (force: stop, then remove) this prefix's containers that no live worker runs.

    Returns the removed containers' names. An engine that cannot be reached removes nothing
    (a worker without docker runs is normal); Redis errors propagate to the caller.
    """
    if isinstance(docker, MissingExtraExecutor):
        return []  # no docker SDK here: this worker started no container
    from docker.errors import DockerException, NotFound

    from fastflow.executors.docker import DockerExecutor
    from fastflow.executors.docker_sweep import (
        LABEL,
        container_labels,
        container_name,
        list_containers,
    )

    assert isinstance(docker, DockerExecutor)
    try:
        engine: Any = docker.new_client()
    except DockerException as exc:
        log.debug("container sweep: engine not reachable: %s", exc)
        return []
    try:
        found = list_containers(engine, [WORKER_LABEL, f"{PREFIX_LABEL}={keys.prefix}"])
        removed: list[str] = []
        for container in found:
            labels = container_labels(container)
            name = container_name(container)
            run_id, owner = labels.get(LABEL, ""), labels.get(WORKER_LABEL, "")
            if _still_running_here_or_elsewhere(client, keys, worker_id, is_active, run_id, owner):
                continue
            log.warning(
                "removing container %s of run %s: its worker %s is gone (the run is LOST)",
                name,
                run_id,
                owner,
            )
            with contextlib.suppress(NotFound):
                container.remove(force=True)
            removed.append(name)
        return removed
    except DockerException as exc:
        log.warning("container sweep failed: %s", exc)
        return []
    finally:
        engine.close()


def _still_running_here_or_elsewhere(
    client: redis.Redis,
    keys: RedisKeys,
    worker_id: str,
    is_active: Callable[[str], bool],
    run_id: str,
    owner: str,
) -> bool:
    if not run_id:
        return True  # not ours to judge
    claim = client.get(keys.claim(run_id))
    holder = claim.decode() if isinstance(claim, bytes) else None
    if holder is None or holder != owner:
        return False
    if holder == worker_id:
        return is_active(run_id)
    return bool(client.exists(keys.worker(holder)))
