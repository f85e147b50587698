"""Health: the one route besides login that answers without a token."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from fastflow import __version__
from fastflow.api.deps import ServicesDep
from fastflow.api.router import ApiRouter
from fastflow.api.schemas import HealthOut, SandboxOut
from fastflow.runs.ports import RemoteWorkers

router = ApiRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
@router.get("/api/health", response_model=HealthOut, include_in_schema=False)
def health(services: ServicesDep) -> JSONResponse:
    """Liveness and database reachability (503 when the database does not answer)."""
    database = "ok" if services.database_answers() else "unreachable"
    redis_state = None
    dispatcher = services.dispatcher
    if isinstance(dispatcher, RemoteWorkers):
        error = dispatcher.redis_error
        redis_state = "ok" if error is None else f"unreachable: {error}"
    # Redis trouble degrades the server but it keeps serving (200): runs wait as PENDING.
    body = HealthOut(
        status="ok" if database == "ok" and redis_state in (None, "ok") else "degraded",
        version=__version__,
        database=database,
        running_runs=services.dispatcher.running,
        redis=redis_state,
        sandbox=SandboxOut(**services.sandbox.to_dict()),
    )
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)
