"""An alert's latest reading, a decision recorded while it lasts, a closing while it lasts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 23:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("value_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("decided_by", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "closed_while_active", sa.Boolean(), nullable=False, server_default=sa.false()
            )
        )
    # Alerts closed before this version recorded their decision with the closing.
    op.execute(
        "UPDATE alert SET decided_at = closed_at, decided_by = closed_by "
        "WHERE product_decision IS NOT NULL OR cause IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("alert", schema=None) as batch_op:
        batch_op.drop_column("closed_while_active")
        batch_op.drop_column("decided_by")
        batch_op.drop_column("decided_at")
        batch_op.drop_column("value_at")
