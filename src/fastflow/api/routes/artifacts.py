"""Artifacts of a run: list with size and sha256, download one by its path."""

from __future__ import annotations

import mimetypes
from datetime import datetime
from urllib.parse import quote

from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from fastflow.api.deps import ServicesDep, Viewer
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter

router = ApiRouter(prefix="/api/runs", tags=["artifacts"], responses=AUTHENTICATED)


class ArtifactOut(BaseModel):
    path: str
    size: int
    sha256: str
    created_at: datetime
    url: str


@router.get("/{run_id}/artifacts", response_model=list[ArtifactOut], responses=errors(404))
def list_artifacts(run_id: str, services: ServicesDep, _: Viewer) -> list[ArtifactOut]:
    """Files the run wrote under FASTFLOW_ARTIFACTS_DIR, kept after it finished."""
    run = services.run_service.get(run_id)
    return [
        ArtifactOut(
            path=a.path,
            size=a.size,
            sha256=a.sha256,
            created_at=a.created_at,
            url=f"/api/runs/{run.id}/artifacts/{quote(a.path)}",
        )
        for a in services.run_files.of_run(run.id)
    ]


@router.get("/{run_id}/artifacts/{path:path}", responses=errors(404))
def download_artifact(
    run_id: str, path: str, services: ServicesDep, _: Viewer
) -> StreamingResponse:
    """One artifact's bytes; `path` as listed (no `..`, no absolute paths)."""
    run = services.run_service.get(run_id)
    artifact, chunks = services.run_files.open(run.id, path)
    media = mimetypes.guess_type(artifact.path)[0] or "application/octet-stream"
    filename = artifact.path.rsplit("/", 1)[-1]
    return StreamingResponse(
        chunks,
        media_type=media,
        headers={
            "Content-Length": str(artifact.size),
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
            "X-Checksum-SHA256": artifact.sha256,
        },
    )
