"""Routes only `fastflow worker` calls (worker token): a claimed run's secrets and artifacts."""

from __future__ import annotations

from typing import Annotated

from fastapi import Header, Path, Request
from pydantic import BaseModel

from fastflow.api.deps import ServicesDep
from fastflow.api.responses import errors
from fastflow.api.router import ApiRouter
from fastflow.api.routes.workers import WorkerAuth
from fastflow.errors import InvalidInputError

router = ApiRouter(prefix="/api/worker/runs", tags=["workers"])

RunId = Annotated[str, Path(pattern=r"^[0-9A-Za-z_-]{1,64}$", description="Run id")]
WorkerId = Annotated[
    str, Header(alias="X-Fastflow-Worker", max_length=300, description="The worker's id")
]


class RunSecretsOut(BaseModel):
    """What a run receives from the secrets store; `secret_keys` are masked in its output."""

    env: dict[str, str]
    secret_keys: list[str]


class ArtifactIn(BaseModel):
    path: str
    size: int
    sha256: str


@router.get("/{run_id}/secrets", response_model=RunSecretsOut, responses=errors(401, 404, 409, 422))
def get_run_secrets(
    run_id: RunId, services: ServicesDep, _: WorkerAuth, worker: WorkerId = ""
) -> RunSecretsOut:
    """The run's secrets and stored parameters, for the worker holding its claim only.

    Allowed while the run is PENDING or RUNNING; each call is written to the audit log.
    """
    found = services.remote_runs.secrets(run_id, worker)
    return RunSecretsOut(env=found.env, secret_keys=sorted(found.secret_keys))


@router.put(
    "/{run_id}/artifacts/{path:path}",
    response_model=ArtifactIn,
    status_code=201,
    responses=errors(401, 404, 409, 413, 422),
)
async def upload_run_artifact(
    run_id: RunId,
    path: str,
    request: Request,
    services: ServicesDep,
    _: WorkerAuth,
    worker: WorkerId = "",
    sha256: Annotated[str, Header(alias="X-Content-SHA256", max_length=100)] = "",
    content_length: Annotated[int | None, Header(alias="Content-Length", ge=0)] = None,
) -> ArtifactIn:
    """One artifact of a run, streamed; stored when its size and SHA-256 match the headers."""
    if content_length is None:
        raise InvalidInputError("send the artifact's size as Content-Length")
    if not sha256:
        raise InvalidInputError("send the artifact's SHA-256 in the X-Content-SHA256 header")
    row = await services.remote_runs.receive_artifact(
        run_id, worker, path, sha256, content_length, request.stream()
    )
    return ArtifactIn(path=row.path, size=row.size, sha256=row.sha256)
