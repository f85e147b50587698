"""Prometheus `/metrics`: a user token (any role) or the separate METRICS_TOKEN."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fastflow.api.deps import ServicesDep
from fastflow.api.responses import errors
from fastflow.api.router import ApiRouter
from fastflow.errors import AuthError
from fastflow.monitoring.prometheus import CONTENT_TYPE

router = ApiRouter(tags=["monitoring"])

_bearer = HTTPBearer(auto_error=False, description="A user token or METRICS_TOKEN")


def _scraper(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    if credentials is None:
        raise AuthError("not authenticated: send 'Authorization: Bearer <token>'")
    expected = services.settings.metrics_token
    if expected and hmac.compare_digest(credentials.credentials.encode(), expected.encode()):
        return
    services.auth.authenticate(credentials.credentials)  # a user token of any role will do


@router.get(
    "/metrics",
    dependencies=[Depends(_scraper)],
    response_class=Response,
    responses=errors(401, 403),
)
def prometheus_metrics(services: ServicesDep) -> Response:
    """Runs by status, queue depth, run durations, stream clients, gaps, component health."""
    return Response(services.monitoring.render(), media_type=CONTENT_TYPE)
