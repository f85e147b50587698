"""sync_settings: git sync branch, auto-sync interval and pre-heat set by an admin

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fastflow.records

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sync_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("branch", sa.String(length=200), nullable=True),
        sa.Column("auto_sync_interval", sa.Float(), nullable=True),
        sa.Column("pre_heat", sa.Boolean(), nullable=True),
        sa.Column("updated_by", sa.String(length=150), nullable=True),
        sa.Column("updated_at", fastflow.records.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("sync_settings")
