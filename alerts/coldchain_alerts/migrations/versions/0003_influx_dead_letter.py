"""Points InfluxDB refused: set aside with the reason, so the points behind them are written.

The outbox also names the audit-log entry a point copies, so that `audit verify` can
tell an entry whose copy waits, or was refused, from one whose copy is missing.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06 22:30:00.000000
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: How the service wrote an audit-log entry's point so far: `seq` is its first field.
_AUDIT_POINT = re.compile(r"audit_chain seq=(\d+)i,")


def upgrade() -> None:
    op.create_table(
        "influx_dead_letter",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("audit_seq", sa.Integer(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("refused_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("influx_dead_letter", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_influx_dead_letter_audit_seq"), ["audit_seq"], unique=False
        )
    with op.batch_alter_table("influx_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audit_seq", sa.Integer(), nullable=True))
    _name_queued_audit_points()


def _name_queued_audit_points() -> None:
    """Points queued before this revision: name the entry of each audit-log copy."""
    outbox = sa.table(
        "influx_outbox",
        sa.column("id", sa.Integer),
        sa.column("line", sa.Text),
        sa.column("audit_seq", sa.Integer),
    )
    connection = op.get_bind()
    queued = connection.execute(
        sa.select(outbox.c.id, outbox.c.line).where(outbox.c.line.like("audit_chain seq=%"))
    )
    for row_id, line in list(queued):
        found = _AUDIT_POINT.match(line)
        if found:
            connection.execute(
                outbox.update().where(outbox.c.id == row_id).values(audit_seq=int(found.group(1)))
            )


def downgrade() -> None:
    with op.batch_alter_table("influx_outbox", schema=None) as batch_op:
        batch_op.drop_column("audit_seq")
    # Back into the outbox, not lost: the older service retries them with the rest.
    op.execute("INSERT INTO influx_outbox (line) SELECT line FROM influx_dead_letter ORDER BY id")
    with op.batch_alter_table("influx_dead_letter", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_influx_dead_letter_audit_seq"))
    op.drop_table("influx_dead_letter")
