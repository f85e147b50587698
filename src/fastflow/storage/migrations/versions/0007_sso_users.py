"""users: OpenID Connect identity (issuer, subject), optional password, break-glass admin

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("sso_issuer", sa.String(length=500), nullable=True))
        batch.add_column(sa.Column("sso_subject", sa.String(length=255), nullable=True))
        batch.add_column(
            sa.Column("break_glass", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.alter_column("password_hash", existing_type=sa.Text(), nullable=True)
        batch.create_unique_constraint("uq_users_sso_identity", ["sso_issuer", "sso_subject"])


def downgrade() -> None:
    # SSO accounts have no password: they cannot exist before this revision.
    op.execute(
        sa.text(
            "DELETE FROM api_tokens WHERE user_id IN "
            "(SELECT id FROM users WHERE password_hash IS NULL)"
        )
    )
    op.execute(sa.text("DELETE FROM users WHERE password_hash IS NULL"))
    with op.batch_alter_table("users") as batch:
        batch.drop_constraint("uq_users_sso_identity", type_="unique")
        batch.alter_column("password_hash", existing_type=sa.Text(), nullable=False)
        batch.drop_column("break_glass")
        batch.drop_column("sso_subject")
        batch.drop_column("sso_issuer")
