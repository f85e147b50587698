"""Outbound webhooks: a JSON notification per finished run, retried with backoff.

The engine's `on_finished` listener records one delivery per matching webhook (global or of
the run's pipeline); the delivery loop posts due deliveries, each attempt recorded. A 2xx
answer is delivered; anything else retries after base·2^(attempt-1) seconds (capped at an
hour) until WEBHOOK_MAX_ATTEMPTS, then the delivery is `failed`. Bodies are signed:
`X-Fastflow-Signature-256: sha256=HMAC(webhook secret, body)`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import timedelta
from typing import Any

import httpx
import orjson

from fastflow.loops import Loop
from fastflow.records import OutboundWebhook, Run, WebhookDelivery, utcnow
from fastflow.storage.webhook_store import WebhookStore
from fastflow.webhooks.inbound import derive_secret, signature

log = logging.getLogger(__name__)

EVENT = "run.finished"
TEST_EVENT = "test"
MAX_BACKOFF = 3600.0


def run_payload(run: Run, base_url: str) -> dict[str, Any]:
    duration = None
    if run.started_at and run.finished_at:
        duration = round((run.finished_at - run.started_at).total_seconds(), 3)
    base = base_url.rstrip("/")
    return {
        "event": EVENT,
        "run_id": run.id,
        "pipeline": run.pipeline_name,
        "status": run.status,
        "success": run.status == "SUCCESS",
        "exit_code": run.exit_code,
        "failure_kind": run.failure_kind,
        "error": run.error_message,
        "trigger": run.trigger,
        "attempt": run.attempt,
        "max_attempts": run.max_attempts,
        "schedule_id": run.schedule_id,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "duration_seconds": duration,
        "links": {
            "run": f"{base}/api/runs/{run.id}",
            "logs": f"{base}/api/runs/{run.id}/logs",
            "pipeline": f"{base}/api/pipelines/{run.pipeline_name}",
        },
    }


class OutboundWebhooks(Loop):
    """The run-finished listener and the delivery loop in one: they share the store."""

    name = "webhook-delivery"

    def __init__(
        self,
        store: WebhookStore,
        key: str,
        base_url: str,
        max_attempts: int = 5,
        retry_base: float = 10.0,
        timeout: float = 10.0,
        poll: float = 5.0,
    ) -> None:
        super().__init__(poll)
        self.store = store
        self._key = key
        self.base_url = base_url
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.timeout = timeout
        self._client: httpx.AsyncClient | None = None
        # Deliveries being sent now: a round never sends one that is still in flight.
        self._in_flight: set[str] = set()

    def all(self) -> list[OutboundWebhook]:
        return self.store.webhooks()

    def delete(self, webhook_id: str) -> None:
        self.store.delete_webhook(webhook_id)

    def deliveries(self, webhook_id: str) -> list[WebhookDelivery]:
        """Recent deliveries of a webhook, newest first (NotFoundError: no such webhook)."""
        self.store.webhook(webhook_id)
        return self.store.deliveries(webhook_id)

    def secret_of(self, hook: OutboundWebhook) -> str:
        return derive_secret(self._key, f"out:{hook.id}:{hook.salt}", "ffw_")

    def create(self, url: str, pipeline_name: str | None) -> tuple[OutboundWebhook, str]:
        hook = self.store.add_webhook(
            OutboundWebhook(url=url, pipeline_name=pipeline_name, salt=secrets.token_hex(16))
        )
        return hook, self.secret_of(hook)

    def send_test(self, webhook_id: str, by: str | None) -> WebhookDelivery:
        """Queue a `test` delivery to one webhook now; it is sent, signed and retried like any
        other and shows in its delivery history (NotFoundError: no such webhook)."""
        hook = self.store.webhook(webhook_id)
        now = utcnow()
        delivery = WebhookDelivery(
            webhook_id=hook.id,
            run_id="",
            event=TEST_EVENT,
            payload={
                "event": TEST_EVENT,
                "webhook_id": hook.id,
                "pipeline": hook.pipeline_name,
                "sent_by": by,
                "sent_at": now.isoformat(),
            },
            next_attempt_at=now,
        )
        self.store.add_deliveries([delivery])
        self.wake()
        return delivery

    def run_finished(self, run: Run) -> None:
        """Engine listener (worker thread): queue one delivery per matching webhook."""
        hooks = self.store.webhook_ids_for(run.pipeline_name)
        if not hooks:
            return
        payload = run_payload(run, self.base_url)
        now = utcnow()
        self.store.add_deliveries(
            [
                WebhookDelivery(
                    webhook_id=hook_id,
                    run_id=run.id,
                    event=EVENT,
                    payload=payload,
                    next_attempt_at=now,
                )
                for hook_id in hooks
            ]
        )
        self.wake()

    def backoff(self, attempts: int) -> float:
        return float(min(MAX_BACKOFF, self.retry_base * 2 ** max(0, attempts - 1)))

    def next_wait(self) -> float:
        due = self.store.next_due()
        if due is None:
            return self.interval
        return max(0.0, min(self.interval, (due - utcnow()).total_seconds()))

    async def start(self) -> None:
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        await super().start()

    async def stop(self) -> None:
        await super().stop()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def run_once(self) -> None:
        due = await asyncio.to_thread(self.store.due, utcnow())
        due = [d for d in due if d.id not in self._in_flight]
        if due:
            await asyncio.gather(*(self._deliver_once(d) for d in due))

    async def _deliver_once(self, delivery: WebhookDelivery) -> None:
        self._in_flight.add(delivery.id)
        try:
            await self._deliver(delivery)
        finally:
            self._in_flight.discard(delivery.id)

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        assert self._client is not None
        try:
            hook = await asyncio.to_thread(self.store.webhook, delivery.webhook_id)
        except Exception:
            await asyncio.to_thread(
                self.store.update_delivery,
                delivery.id,
                status="failed",
                last_error="the webhook was deleted",
            )
            return
        body = orjson.dumps(delivery.payload)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "fastflow-webhook",
            "X-Fastflow-Event": delivery.event,
            "X-Fastflow-Delivery": delivery.id,
            "X-Fastflow-Signature-256": signature(self.secret_of(hook), body),
        }
        attempts = delivery.attempts + 1
        code: int | None = None
        error: str | None = None
        try:
            r = await self._client.post(hook.url, content=body, headers=headers)
            code = r.status_code
            if not 200 <= code < 300:
                error = f"answered {code}"
        except Exception as exc:
            # Whatever goes wrong (a URL stored before it was checked, a broken answer) is
            # this attempt's failure, retried with backoff: never an error of the round.
            error = f"{type(exc).__name__}: {exc}"[:500]
        fields: dict[str, Any] = {
            "attempts": attempts,
            "last_status_code": code,
            "last_error": error,
        }
        if error is None:
            fields.update(status="delivered", delivered_at=utcnow(), next_attempt_at=None)
        elif attempts >= self.max_attempts:
            fields.update(status="failed", next_attempt_at=None)
            log.warning("webhook %s: delivery %s failed for good: %s", hook.id, delivery.id, error)
        else:
            retry_in = self.backoff(attempts)
            fields["next_attempt_at"] = utcnow() + timedelta(seconds=retry_in)
            log.info(
                "webhook %s: delivery %s %s; retry in %.1fs", hook.id, delivery.id, error, retry_in
            )
        await asyncio.to_thread(self.store.update_delivery, delivery.id, **fields)
