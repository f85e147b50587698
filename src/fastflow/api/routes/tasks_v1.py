"""The build API of function-platform clients: upload a source, poll its task.

`POST /api/v1/build` takes the same upload as `POST /api/builds` (multipart field `file`, a
`.py` or `.zip`; the name from `app_name`) and answers with a task; the task is the run, so
`task_id` is the run id and `GET /api/v1/tasks/{task_id}` is that run with the task's status
words (pending, running, completed, failed).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from fastflow.api import job_view
from fastflow.api.deps import Operator, ServicesDep, Viewer
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.api.routes.builds import receive_upload, upload_schema
from fastflow.api.routes.runs import RunId

router = ApiRouter(prefix="/api/v1", tags=["build tasks"], responses=AUTHENTICATED)

_UPLOAD = upload_schema("app_name", "the build's name", "a .py file, or a .zip with main.py")


@router.post("/build", openapi_extra=_UPLOAD, responses=errors(409, 413, 429))
async def build(request: Request, services: ServicesDep, user: Operator) -> dict[str, Any]:
    """Upload a source (multipart field `file`) and build it; poll `status_url`."""
    accepted = await receive_upload(request, services, user.username, ("app_name", "name"))
    run = accepted.run
    return job_view.task(run, []) | {
        "message": f"build of {accepted.upload.filename!r} accepted as task {run.id}",
        "upload_id": accepted.upload.id,
    }


@router.get("/tasks/{task_id}", responses=errors(404))
def get_task(task_id: RunId, services: ServicesDep, _: Viewer) -> dict[str, Any]:
    """The task: `status` (pending, running, completed, failed), `error_message`,
    `created_at`, `updated_at`, `artifacts`."""
    run = services.run_service.get(task_id)
    return job_view.task(run, job_view.artifact_names(services, run))
