"""`POST /api/hooks/{pipeline}`: a webhook starts a run. Public route with its own secret.

Authenticated by the pipeline's hook token or an HMAC signature of the body (see
`fastflow.webhooks.inbound`), not by a user login; tokens are made by an admin through
`POST /api/webhooks/inbound`.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import Query, Request

from fastflow.api.deps import ServicesDep
from fastflow.api.responses import errors
from fastflow.api.router import ApiRouter
from fastflow.api.routes.pipelines import PipelineName
from fastflow.api.routes.sync import read_limited
from fastflow.api.schemas import RunOut
from fastflow.errors import InvalidInputError
from fastflow.models import Trigger
from fastflow.pipelines.discovery import check_name
from fastflow.webhooks.inbound import pipeline_target

router = ApiRouter(prefix="/api/hooks", tags=["webhooks"])


@router.post(
    "/{pipeline}",
    response_model=RunOut,
    status_code=202,
    responses=errors(401, 403, 404, 409, 413, 422, 429),
)
async def start_run_by_webhook(
    pipeline: PipelineName,
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Query(description="the hook token, if not in a header")] = None,
) -> RunOut:
    """Start a run of `pipeline`; a JSON body `{"parameters": {...}}` sets its parameters.

    Other bodies (e.g. a GitHub event payload) are accepted and not used as parameters.
    """
    body = await read_limited(request)
    hook = services.inbound_hooks.verify(pipeline_target(pipeline), body, request.headers, token)
    check_name(pipeline)
    params = _parameters(body, request.headers.get("content-type", ""))
    services.inbound_hooks.remember(hook, body, request.headers)
    run = services.run_service.start(
        pipeline,
        params,
        trigger=Trigger.WEBHOOK,
        triggered_by=f"hook:{request.headers.get('x-github-event', 'call')}",
    )
    return RunOut.of(run)


def _parameters(body: bytes, content_type: str) -> dict[str, Any]:
    if not body.strip() or "json" not in content_type:
        return {}
    try:
        data = orjson.loads(body)  # too deep nesting is an error here, not a RecursionError
    except ValueError:
        raise InvalidInputError("request body is not valid JSON") from None
    params = data.get("parameters") if isinstance(data, dict) else None
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidInputError("body field 'parameters': must be an object")
    return params
