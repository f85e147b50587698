"""Health: the one route besides login that answers without a token."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from fastflow import __version__
from fastflow.api.deps import ServicesDep
from fastflow.api.schemas import HealthOut

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut)
@router.get("/api/health", response_model=HealthOut, include_in_schema=False)
def health(services: ServicesDep) -> JSONResponse:
    """Liveness and database reachability (503 when the database does not answer)."""
    try:
        with services.db.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        database = "ok"
    except Exception:
        database = "unreachable"
    body = HealthOut(
        status="ok" if database == "ok" else "degraded",
        version=__version__,
        database=database,
        running_runs=services.dispatcher.running,
    )
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)
