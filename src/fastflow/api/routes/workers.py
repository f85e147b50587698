"""Remote workers: their list, and the pipeline bundles they download (worker token)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import FileResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fastflow.api.deps import ServicesDep, Viewer
from fastflow.api.responses import errors
from fastflow.api.router import ApiRouter
from fastflow.api.schemas import WorkerOut
from fastflow.errors import AuthError, NotFoundError
from fastflow.pipelines.bundle import bundle_path
from fastflow.runs.ports import RemoteWorkers

router = ApiRouter(tags=["workers"])

_bearer = HTTPBearer(auto_error=False, description="FASTFLOW_WORKER_TOKEN")


async def worker_auth(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """Admits `fastflow worker` processes: the bearer must be the server's worker token."""
    given = credentials.credentials if credentials else ""
    if not given or not hmac.compare_digest(given.encode(), services.worker_token.encode()):
        raise AuthError("not authenticated: send 'Authorization: Bearer <worker token>'")


WorkerAuth = Annotated[None, Depends(worker_auth)]


@router.get("/api/bundles/{sha}", response_class=FileResponse, responses=errors(401, 404, 422))
def get_pipeline_bundle(sha: str, services: ServicesDep, _: WorkerAuth) -> FileResponse:
    """A pipeline bundle (tar.gz) by its SHA-256, for workers on other machines."""
    path = bundle_path(services.settings.bundles_dir, sha)
    if path is None:
        raise NotFoundError(f"no bundle {sha[:64]!r}")
    return FileResponse(path, media_type="application/gzip")


@router.get("/api/workers", response_model=list[WorkerOut], responses=errors(401, 403, 422))
def list_workers(services: ServicesDep, _: Viewer) -> list[dict[str, Any]]:
    """Workers alive now (host, queues, concurrency, last heartbeat, running runs).

    Empty with DISPATCHER=embedded; 503 when Redis does not answer.
    """
    dispatcher = services.dispatcher
    if not isinstance(dispatcher, RemoteWorkers):
        return []
    return dispatcher.list_workers()
