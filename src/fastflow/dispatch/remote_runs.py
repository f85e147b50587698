"""What the server gives and takes from the worker executing a remote run.

A worker proves itself with the worker token (the route's job) and names itself; a request
about a run is allowed only from the worker holding that run's claim in Redis, and only while
the run is not finished. Through this a worker fetches the run's secrets at its start (they
never travel in the broker's task message) and hands over the run's artifacts at its end,
stored through the same object store and artifact table as embedded runs' files.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from fastflow.artifacts.keeper import artifact_key
from fastflow.errors import (
    ConflictError,
    ForbiddenError,
    InvalidInputError,
    TooLargeError,
)
from fastflow.models import RunStatus
from fastflow.records import Artifact, Run
from fastflow.runs.ports import Dispatcher, RemoteWorkers, Ticket
from fastflow.runs.server_place import ServerPlace
from fastflow.secrets.service import RunSecrets
from fastflow.storage.artifact_store import ArtifactStore
from fastflow.storage.objects import ObjectStore, check_key
from fastflow.storage.run_store import RunStore

log = logging.getLogger(__name__)
# Handing secrets to a machine is worth a line of its own in the server's log.
audit = logging.getLogger("fastflow.audit")

_SHA256 = frozenset("0123456789abcdef")


class RemoteRuns:
    """Claim-checked access of workers to their runs' secrets and artifacts."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        runs: RunStore,
        place: ServerPlace,
        objects: ObjectStore,
        artifacts: ArtifactStore,
        max_artifact_bytes: int,
        tmp_dir: Path,
    ) -> None:
        self._dispatcher = dispatcher
        self._runs = runs
        self._place = place
        self._objects = objects
        self._artifacts = artifacts
        self._max_artifact_bytes = max_artifact_bytes
        self._tmp_dir = tmp_dir

    def claimed_run(self, run_id: str, worker: str) -> Run:
        """The run, if `worker` holds its claim and it has not finished; else a 4xx error."""
        if not isinstance(self._dispatcher, RemoteWorkers):
            raise ConflictError("this server does not dispatch to workers (DISPATCHER=embedded)")
        if not worker:
            raise InvalidInputError("send the worker's id in the X-Fastflow-Worker header")
        run = self._runs.get(run_id)
        owner = self._dispatcher.claim_owner(run.id)
        if owner != worker:
            raise ForbiddenError(f"run {run.id} is not claimed by worker {worker[:200]!r}")
        if run.status not in (RunStatus.PENDING.value, RunStatus.RUNNING.value):
            raise ConflictError(f"run {run.id} is {run.status}; it takes nothing any more")
        return run

    def secrets(self, run_id: str, worker: str) -> RunSecrets:
        """The run's secrets and stored parameters, as embedded mode gives them to a run."""
        run = self.claimed_run(run_id, worker)
        found = run_secrets(self._place, run)
        audit.info(
            "worker %s fetched the secrets of run %s (%s): %s",
            worker,
            run.id,
            run.pipeline_name,
            ", ".join(sorted(found.secret_keys)) or "none",
        )
        return found

    async def receive_artifact(
        self,
        run_id: str,
        worker: str,
        path: str,
        sha256: str,
        size: int,
        body: AsyncIterator[bytes],
    ) -> Artifact:
        """Store one artifact streamed by the worker after checking its size and SHA-256."""
        run = await asyncio.to_thread(self._admit_artifact, run_id, worker, path, sha256, size)
        tmp = await asyncio.to_thread(self._tmp_file)
        try:
            digest, received = await _receive(tmp, body, size)
            if received != size:
                raise InvalidInputError(
                    f"artifact {path!r}: received {received} bytes, Content-Length said {size}"
                )
            if digest != sha256.lower():
                raise InvalidInputError(
                    f"artifact {path!r}: SHA-256 of the body is {digest}, not {sha256}"
                )
            await asyncio.to_thread(self._objects.put_file, artifact_key(run.id, path), tmp)
        finally:
            await asyncio.to_thread(tmp.unlink, missing_ok=True)
        row = Artifact(run_id=run.id, path=path, size=size, sha256=digest)
        await asyncio.to_thread(self._artifacts.add_all, [row])
        log.info("run %s: artifact %s (%d bytes) from worker %s", run.id, path, size, worker)
        return row

    def _admit_artifact(self, run_id: str, worker: str, path: str, sha256: str, size: int) -> Run:
        run = self.claimed_run(run_id, worker)
        try:
            check_key(path)
        except InvalidInputError as exc:
            raise InvalidInputError(f"artifact path: {exc.message}") from None
        if len(sha256) != 64 or not set(sha256.lower()) <= _SHA256:
            raise InvalidInputError("X-Content-SHA256 must be the body's SHA-256 as 64 hex digits")
        # The per-run limit counts what the run kept so far (a re-sent file replaces itself).
        kept = sum(a.size for a in self._artifacts.of_run(run.id) if a.path != path)
        if kept + size > self._max_artifact_bytes:
            raise TooLargeError(
                f"artifacts of run {run.id} would total {(kept + size) / 1024 / 1024:.1f} MB, "
                f"over the per-run limit of {self._max_artifact_bytes / 1024 / 1024:g} MB "
                "(ARTIFACTS_MAX_SIZE_MB)"
            )
        return run

    def _tmp_file(self) -> Path:
        self._tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self._tmp_dir, prefix="artifact-")
        os.close(fd)
        return Path(name)


def run_secrets(place: ServerPlace, run: Run) -> RunSecrets:
    """What the secrets store gives `run`, as a local run of it gets it."""
    ticket = Ticket.of(run)
    return place.secrets(ticket, place.pipeline(ticket))


async def _receive(path: Path, body: AsyncIterator[bytes], limit: int) -> tuple[str, int]:
    """Write `body` to `path`, hashing it; stops reading past `limit` bytes (+1 to notice)."""
    h = hashlib.sha256()
    received = 0
    async with await anyio.open_file(path, "wb") as f:
        async for chunk in body:
            received += len(chunk)
            if received > limit:
                break
            h.update(chunk)
            await f.write(chunk)
    return h.hexdigest(), received
