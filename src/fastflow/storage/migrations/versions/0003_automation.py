"""automation: schedule policies and outcomes, cache warm-up errors, webhooks

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fastflow.records

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TS = fastflow.records.UTCDateTime


def upgrade() -> None:
    with op.batch_alter_table("schedules", schema=None) as b:
        b.add_column(sa.Column("overlap_policy", sa.String(length=16), nullable=True))
        b.add_column(
            sa.Column("misfire_grace_seconds", sa.Integer(), nullable=False, server_default="300")
        )
        b.add_column(sa.Column("last_run_id", sa.String(length=32), nullable=True))
        b.add_column(sa.Column("last_outcome", sa.String(length=16), nullable=True))
        b.add_column(sa.Column("last_message", sa.Text(), nullable=True))
        b.add_column(sa.Column("skipped_count", sa.Integer(), nullable=False, server_default="0"))
        b.add_column(sa.Column("queued_at", _TS(), nullable=True))
    with op.batch_alter_table("pipelines", schema=None) as b:
        b.add_column(sa.Column("cache_warmup_error", sa.Text(), nullable=True))

    op.create_table(
        "inbound_hooks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("target", sa.String(length=220), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("created_by", sa.String(length=150), nullable=True),
        sa.Column("created_at", _TS(), nullable=False),
        sa.Column("last_used_at", _TS(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("target"),
    )
    op.create_table(
        "outbound_webhooks",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("pipeline_name", sa.String(length=200), nullable=True),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TS(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_outbound_webhooks_pipeline_name", "outbound_webhooks", ["pipeline_name"], unique=False
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("webhook_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TS(), nullable=True),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TS(), nullable=False),
        sa.Column("delivered_at", _TS(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_webhook_deliveries_webhook_id", "webhook_deliveries", ["webhook_id"], unique=False
    )
    op.create_index(
        "ix_webhook_deliveries_due", "webhook_deliveries", ["status", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_webhook_deliveries_due", table_name="webhook_deliveries")
    op.drop_index("ix_webhook_deliveries_webhook_id", table_name="webhook_deliveries")
    op.drop_table("webhook_deliveries")
    op.drop_index("ix_outbound_webhooks_pipeline_name", table_name="outbound_webhooks")
    op.drop_table("outbound_webhooks")
    op.drop_table("inbound_hooks")
    with op.batch_alter_table("pipelines", schema=None) as b:
        b.drop_column("cache_warmup_error")
    with op.batch_alter_table("schedules", schema=None) as b:
        for name in (
            "queued_at",
            "skipped_count",
            "last_message",
            "last_outcome",
            "last_run_id",
            "misfire_grace_seconds",
            "overlap_policy",
        ):
            b.drop_column(name)
