"""Finding fastflow's containers on the engine, and removing those of finished runs."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from docker.errors import DockerException

from fastflow.models import RunStatus
from fastflow.runs.ports import RunStatuses

LABEL = "fastflow-run-id"
log = logging.getLogger(__name__)

_ACTIVE_STATES = (RunStatus.PENDING.value, RunStatus.RUNNING.value)


def list_containers(client: Any, labels: list[str]) -> list[Any]:
    """Containers carrying every one of `labels` (`key` or `key=value`), sparse: the engine's
    list alone, no inspect per container — one removed in between would fail that inspect
    (Podman answers 500 for it)."""
    return list(client.containers.list(all=True, sparse=True, filters={"label": labels}))


def container_labels(container: Any) -> dict[str, str]:
    """The labels of a container from a sparse list."""
    return dict(container.attrs.get("Labels") or {})


def container_name(container: Any) -> str:
    """The name of a container from a sparse list."""
    return str((container.attrs.get("Names") or [container.short_id])[0]).lstrip("/")


def sweep_stopped(
    client: Any, labels: list[str], active: set[str], statuses: RunStatuses, dry_run: bool
) -> list[str]:
    """Remove stopped containers with `labels` whose run is neither `active` here nor
    PENDING/RUNNING by `statuses`; the names of those removed (or that would be)."""
    try:
        found = list_containers(client, labels)
    except DockerException as exc:
        log.warning("cleanup: container engine not reachable: %s", exc)
        return []
    stopped = {
        run_id: c
        for c in found
        if (run_id := container_labels(c).get(LABEL, ""))
        and c.attrs.get("State") in ("exited", "created", "dead")
    }
    known = statuses(list(stopped))
    removed = []
    for run_id, container in stopped.items():
        status = known.get(run_id)
        if run_id in active or (status is not None and status in _ACTIVE_STATES):
            continue
        removed.append(container_name(container))
        if not dry_run:
            with contextlib.suppress(DockerException):
                container.remove(force=True)
    return removed
