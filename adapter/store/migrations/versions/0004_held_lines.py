"""Held lines and constant-cost claims: a dead letter holds its (case, recipient) line until it is
replayed or skipped (the skip's who, when and why on the row); the claim walks the due index in
order (now with id, so both stores stop at the limit) and checks each line with one probe of an
index of its open rows (pending or dead), which replaces the index of pending rows.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_OPEN_LINES = sa.text("status IN ('pending', 'dead')")
_PENDING = sa.text("status = 'pending'")


def upgrade() -> None:
    op.add_column("outbox", sa.Column("skipped_at", sa.Float, nullable=True))
    op.add_column("outbox", sa.Column("skipped_by", sa.String(100), nullable=True))
    op.add_column("outbox", sa.Column("skip_reason", sa.Text, nullable=True))
    op.drop_index("ix_outbox_due", "outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at", "id"])
    op.drop_index("ix_outbox_pending", "outbox")
    op.create_index(
        "ix_outbox_open_lines",
        "outbox",
        ["case_id", "recipient", "id"],
        postgresql_where=_OPEN_LINES,
        sqlite_where=_OPEN_LINES,
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_open_lines", "outbox")
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["case_id", "recipient", "id"],
        postgresql_where=_PENDING,
        sqlite_where=_PENDING,
    )
    op.drop_index("ix_outbox_due", "outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
    op.execute("UPDATE outbox SET status = 'dead' WHERE status = 'skipped'")
    with op.batch_alter_table("outbox") as batch:
        for name in ("skip_reason", "skipped_by", "skipped_at"):
            batch.drop_column(name)
