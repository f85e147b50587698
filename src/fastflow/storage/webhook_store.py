"""WebhookStore: inbound hook secrets, outbound webhooks and their deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import SQLModel, col, select

from fastflow.errors import NotFoundError
from fastflow.records import InboundHook, OutboundWebhook, WebhookDelivery, utcnow
from fastflow.storage.database import Database

_HOOKS: sa.Table = SQLModel.metadata.tables[OutboundWebhook.__tablename__]
# Asked for every run that ends: built once (building it costs more than running it).
_HOOK_IDS_FOR = sa.select(_HOOKS.c.id).where(
    _HOOKS.c.enabled,
    sa.or_(_HOOKS.c.pipeline_name.is_(None), _HOOKS.c.pipeline_name == sa.bindparam("pipeline")),
)


class WebhookStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    # inbound ---------------------------------------------------------------------------
    def hook(self, target: str) -> InboundHook | None:
        with self._db.session() as s:
            return s.exec(select(InboundHook).where(col(InboundHook.target) == target)).first()

    def hooks(self) -> list[InboundHook]:
        with self._db.session() as s:
            return list(s.exec(select(InboundHook).order_by(col(InboundHook.target))).all())

    def put_hook(self, target: str, salt: str, created_by: str | None) -> InboundHook:
        """Create the hook of `target`, or give it a new salt (which revokes the old token)."""
        with self._db.session() as s:
            row = s.exec(select(InboundHook).where(col(InboundHook.target) == target)).first()
            if row is None:
                row = InboundHook(target=target, salt=salt, created_by=created_by)
            else:
                row.salt, row.created_by, row.created_at = salt, created_by, utcnow()
            s.add(row)
            s.commit()
            s.refresh(row)
            return row

    def delete_hook(self, hook_id: str) -> None:
        with self._db.session() as s:
            res = s.execute(sa.delete(InboundHook).where(col(InboundHook.id) == hook_id))
            s.commit()
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFoundError(f"inbound hook {hook_id!r} not found")

    def touch_hook(self, hook_id: str) -> None:
        with self._db.session() as s:
            s.execute(
                sa.update(InboundHook)
                .where(col(InboundHook.id) == hook_id)
                .values(last_used_at=utcnow())
            )
            s.commit()

    # outbound --------------------------------------------------------------------------
    def add_webhook(self, hook: OutboundWebhook) -> OutboundWebhook:
        with self._db.session() as s:
            s.add(hook)
            s.commit()
            return hook

    def webhook(self, webhook_id: str) -> OutboundWebhook:
        with self._db.session() as s:
            row = s.get(OutboundWebhook, webhook_id)
        if row is None:
            raise NotFoundError(f"webhook {webhook_id!r} not found")
        return row

    def webhooks(self) -> list[OutboundWebhook]:
        with self._db.session() as s:
            return list(s.exec(select(OutboundWebhook).order_by(col(OutboundWebhook.created_at))))

    def webhook_ids_for(self, pipeline: str) -> list[str]:
        """Ids of the enabled webhooks for this pipeline's runs: its own and the global ones.

        A plain SELECT of one column on the table (no ORM objects): it runs for every run
        that ends, and usually finds nothing."""
        with self._db.engine.connect() as conn:
            return list(conn.execute(_HOOK_IDS_FOR, {"pipeline": pipeline}).scalars())

    def delete_webhook(self, webhook_id: str) -> None:
        with self._db.session() as s:
            res = s.execute(sa.delete(OutboundWebhook).where(col(OutboundWebhook.id) == webhook_id))
            s.execute(
                sa.delete(WebhookDelivery).where(col(WebhookDelivery.webhook_id) == webhook_id)
            )
            s.commit()
        if res.rowcount != 1:  # type: ignore[attr-defined]
            raise NotFoundError(f"webhook {webhook_id!r} not found")

    # deliveries ------------------------------------------------------------------------
    def add_deliveries(self, deliveries: list[WebhookDelivery]) -> None:
        with self._db.session() as s:
            s.add_all(deliveries)
            s.commit()

    def due(self, now: datetime, limit: int = 50) -> list[WebhookDelivery]:
        with self._db.session() as s:
            return list(
                s.exec(
                    select(WebhookDelivery)
                    .where(
                        col(WebhookDelivery.status) == "pending",
                        col(WebhookDelivery.next_attempt_at) <= now,
                    )
                    .order_by(col(WebhookDelivery.next_attempt_at))
                    .limit(limit)
                ).all()
            )

    def next_due(self) -> datetime | None:
        with self._db.session() as s:
            value: datetime | None = s.exec(
                select(sa.func.min(WebhookDelivery.next_attempt_at)).where(
                    col(WebhookDelivery.status) == "pending"
                )
            ).one()
        return value

    def update_delivery(self, delivery_id: str, **fields: Any) -> None:
        with self._db.session() as s:
            s.execute(
                sa.update(WebhookDelivery)
                .where(col(WebhookDelivery.id) == delivery_id)
                .values(**fields)
            )
            s.commit()

    def deliveries(self, webhook_id: str, limit: int = 100) -> list[WebhookDelivery]:
        with self._db.session() as s:
            return list(
                s.exec(
                    select(WebhookDelivery)
                    .where(col(WebhookDelivery.webhook_id) == webhook_id)
                    .order_by(col(WebhookDelivery.created_at).desc())
                    .limit(limit)
                ).all()
            )
