"""builds (uploads), artifacts, runs.source

Revision ID: 0005
Revises: 0003
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import fastflow.records

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "uploads",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("source_key", sa.Text(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=150), nullable=True),
        sa.Column("created_at", fastflow.records.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_uploads_name", "uploads", ["name"])
    op.create_index("ix_uploads_created_at", "uploads", ["created_at"])
    op.create_table(
        "artifacts",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", fastflow.records.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "path"),
    )
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("source", sa.String(length=300), nullable=True))
        batch.create_index("ix_runs_source", ["source"])
        # Listing order is (created_at, id): indexes that end in id serve pages without a sort.
        batch.drop_index("ix_runs_pipeline_created")
        batch.drop_index("ix_runs_status_created")
        batch.create_index("ix_runs_pipeline_created", ["pipeline_name", "created_at", "id"])
        batch.create_index("ix_runs_status_created", ["status", "created_at", "id"])
        batch.create_index("ix_runs_created_id", ["created_at", "id"])


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_index("ix_runs_created_id")
        batch.drop_index("ix_runs_status_created")
        batch.drop_index("ix_runs_pipeline_created")
        batch.create_index("ix_runs_pipeline_created", ["pipeline_name", "created_at"])
        batch.create_index("ix_runs_status_created", ["status", "created_at"])
        batch.drop_index("ix_runs_source")
        batch.drop_column("source")
    op.drop_table("artifacts")
    op.drop_index("ix_uploads_created_at", table_name="uploads")
    op.drop_index("ix_uploads_name", table_name="uploads")
    op.drop_table("uploads")
