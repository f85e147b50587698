"""Webhook administration: inbound hook tokens, outbound URLs and their deliveries (admin)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fastflow.api.deps import Admin, ServicesDep
from fastflow.api.responses import AUTHENTICATED, errors
from fastflow.api.router import ApiRouter
from fastflow.errors import InvalidInputError
from fastflow.pipelines.discovery import check_name
from fastflow.records import InboundHook, OutboundWebhook
from fastflow.webhooks.inbound import SYNC_TARGET, pipeline_target

router = ApiRouter(prefix="/api/webhooks", tags=["webhooks"], responses=AUTHENTICATED)


class InboundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pipeline: str | None = Field(default=None, max_length=200)
    sync: bool = Field(default=False, description="the push hook that triggers a sync")

    @model_validator(mode="after")
    def _one(self) -> InboundIn:
        if (self.pipeline is None) == (not self.sync):
            raise ValueError("give either 'pipeline' or 'sync': true")
        return self


class InboundOut(BaseModel):
    id: str
    target: str
    url: str
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None
    token: str | None = Field(default=None, description="only in the answer that creates it")

    @classmethod
    def of(cls, hook: InboundHook, token: str | None = None) -> InboundOut:
        url = (
            "/api/sync/hook"
            if hook.target == SYNC_TARGET
            else ("/api/hooks/" + hook.target.removeprefix("pipeline:"))
        )
        return cls(**hook.model_dump(exclude={"salt"}), url=url, token=token)


class OutboundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=1, max_length=2000)
    pipeline: str | None = Field(default=None, max_length=200, description="None: every run")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        # urlsplit drops tabs and newlines silently; a URL with any whitespace or control
        # character is refused here rather than failing every delivery later.
        if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
            raise ValueError("must not contain spaces or control characters")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL")
        try:
            httpx.URL(value)
            _ = parts.port  # a port that is not a number raises here
        except (httpx.InvalidURL, ValueError) as exc:
            raise ValueError(f"is not a usable URL: {exc}") from None
        return value


class OutboundOut(BaseModel):
    id: str
    url: str
    pipeline: str | None
    enabled: bool
    created_at: datetime
    secret: str | None = Field(default=None, description="only in the answer that creates it")

    @classmethod
    def of(cls, hook: OutboundWebhook, secret: str | None = None) -> OutboundOut:
        return cls(
            id=hook.id,
            url=hook.url,
            pipeline=hook.pipeline_name,
            enabled=hook.enabled,
            created_at=hook.created_at,
            secret=secret,
        )


@router.get("/inbound", response_model=list[InboundOut])
def list_inbound_hooks(services: ServicesDep, _: Admin) -> list[InboundOut]:
    return [InboundOut.of(h) for h in services.inbound_hooks.all()]


@router.post("/inbound", response_model=InboundOut, status_code=201, responses=errors(404, 409))
def create_inbound_hook(body: InboundIn, services: ServicesDep, user: Admin) -> InboundOut:
    """Create a hook and show its token once; for an existing hook, a new token (rotation)."""
    if body.pipeline is not None:
        target = pipeline_target(check_name(body.pipeline))
        services.pipeline_service.get(body.pipeline)
    else:
        target = SYNC_TARGET
    hook, token = services.inbound_hooks.create(target, user.username)
    return InboundOut.of(hook, token)


@router.delete("/inbound/{hook_id}", status_code=204, responses=errors(404))
def delete_inbound_hook(hook_id: str, services: ServicesDep, _: Admin) -> Response:
    services.inbound_hooks.delete(hook_id)
    return Response(status_code=204)


@router.get("/outbound", response_model=list[OutboundOut])
def list_outbound_webhooks(services: ServicesDep, _: Admin) -> list[OutboundOut]:
    return [OutboundOut.of(h) for h in services.outbound.all()]


@router.post("/outbound", response_model=OutboundOut, status_code=201)
def create_outbound_webhook(body: OutboundIn, services: ServicesDep, _: Admin) -> OutboundOut:
    """Notify `url` when a run (of `pipeline`, or any) finishes; shows the signing secret once."""
    if body.pipeline is not None:
        try:
            check_name(body.pipeline)
        except InvalidInputError as exc:
            raise InvalidInputError(f"pipeline: {exc.message}") from None
    hook, secret = services.outbound.create(body.url, body.pipeline)
    return OutboundOut.of(hook, secret)


@router.delete("/outbound/{webhook_id}", status_code=204, responses=errors(404))
def delete_outbound_webhook(webhook_id: str, services: ServicesDep, _: Admin) -> Response:
    services.outbound.delete(webhook_id)
    return Response(status_code=204)


@router.get("/outbound/{webhook_id}/deliveries", responses=errors(404))
def list_webhook_deliveries(
    webhook_id: str, services: ServicesDep, _: Admin
) -> list[dict[str, Any]]:
    """Recent deliveries, newest first, with attempts, last status code and error."""
    return [d.model_dump(mode="json") for d in services.outbound.deliveries(webhook_id)]


@router.post("/outbound/{webhook_id}/test", status_code=202, responses=errors(404))
def send_test_delivery(webhook_id: str, services: ServicesDep, user: Admin) -> dict[str, Any]:
    """Send a signed `test` notification now; it shows in the delivery history."""
    delivery = services.outbound.send_test(webhook_id, user.username)
    return delivery.model_dump(mode="json")
