"""Git sync of PIPELINES_DIR: trigger, status, and the push hook (its own token)."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import BaseModel, ConfigDict, Field

from fastflow.api.deps import Admin, Operator, ServicesDep, Viewer
from fastflow.api.responses import errors
from fastflow.api.router import ApiRouter
from fastflow.webhooks.inbound import SYNC_TARGET

router = ApiRouter(prefix="/api/sync", tags=["sync"])

MAX_HOOK_BODY = 5 * 1024 * 1024


class SyncRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    branch: str | None = Field(default=None, min_length=1, max_length=200)


@router.post("", responses=errors(401, 403, 409, 422))
async def start_sync(services: ServicesDep, _: Operator, body: SyncRequest | None = None) -> Any:
    """Pull the branch (default GIT_BRANCH); the remote wins over local changes."""
    return await services.sync.sync((body or SyncRequest()).branch)


@router.get("/status", responses=errors(401, 403, 422))
async def get_sync_status(services: ServicesDep, _: Viewer) -> Any:
    """Branch, commit, ahead/behind as of the last fetch, and the last sync's result."""
    return await services.sync.status()


class SyncSettingsIn(BaseModel):
    """Only the fields given change; `null` puts a setting back to the environment's value."""

    model_config = ConfigDict(extra="forbid")
    branch: str | None = Field(default=None, min_length=1, max_length=200)
    auto_sync_interval: float | None = Field(
        default=None, description="seconds between automatic syncs; 0 turns them off"
    )
    pre_heat: bool | None = Field(default=None, description="build environments after a sync")


@router.get("/settings", responses=errors(401, 403, 422))
async def get_sync_settings(services: ServicesDep, _: Admin) -> Any:
    """Branch, auto-sync interval and pre-heat: in force, the environment's, and stored."""
    return await asyncio.to_thread(services.sync_settings.view)


@router.put("/settings", responses=errors(401, 403, 422))
async def put_sync_settings(body: SyncSettingsIn, services: ServicesDep, user: Admin) -> Any:
    """Change the settings (stored in the database; they win over the environment's)."""
    changes = {name: getattr(body, name) for name in body.model_fields_set}
    return await services.sync_settings.update(changes, user.username)


@router.post("/hook", status_code=202, responses=errors(401, 403, 409, 413, 422))
async def sync_by_webhook(
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Query(description="the hook token, if not in a header")] = None,
) -> Any:
    """Public: a push webhook (e.g. GitHub's) with the sync hook's token or signature.

    A `push` (or a call without `X-GitHub-Event`) syncs the branch the push went to when it
    is GIT_BRANCH; `ping` answers without syncing.
    """
    body = await read_limited(request)
    hook = services.inbound_hooks.verify(SYNC_TARGET, body, request.headers, token)
    services.inbound_hooks.remember(hook, body, request.headers)
    event = request.headers.get("x-github-event", "push")
    if event == "ping":
        return {"ok": True, "event": "ping"}
    if event != "push":
        return {"ok": True, "event": event, "ignored": True}
    return await services.sync.sync(reason="hook")


async def read_limited(request: Request) -> bytes:
    """The request body, refused (413) past MAX_HOOK_BODY."""
    from fastflow.errors import FastflowError

    class TooLargeError(FastflowError):
        status_code = 413

    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_HOOK_BODY:
            raise TooLargeError(f"request body larger than {MAX_HOOK_BODY} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
