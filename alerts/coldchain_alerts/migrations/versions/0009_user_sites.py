"""Site-scoped access: the sites a user works at, with a role at each.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-28 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_site",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "site"),
    )
    op.create_index("ix_user_site_user_id", "user_site", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_user_site_user_id", table_name="user_site")
    op.drop_table("user_site")
