"""The calibration register: each probe's checks against a reference instrument.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-21 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calibration_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sensor", sa.String(length=130), nullable=False),
        sa.Column("checked_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=False),
        sa.Column("deviation_k", sa.Float(), nullable=True),
        sa.Column("checked_by", sa.String(length=200), nullable=True),
        sa.Column("entered_by", sa.String(length=64), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_calibration_check_sensor", "calibration_check", ["sensor"])


def downgrade() -> None:
    op.drop_index("ix_calibration_check_sensor", table_name="calibration_check")
    op.drop_table("calibration_check")
