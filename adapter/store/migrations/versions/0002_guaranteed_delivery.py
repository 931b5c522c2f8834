"""Guaranteed delivery: who delivered, dead letters and their replay, kvittens per message, an
index of the pending lines for claims; Bundle.id lookup for the inbound duplicate rule.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_OUTBOX_COLUMNS = (
    ("delivered_by", sa.String(100)),
    ("dead_at", sa.Float),
    ("replayed_at", sa.Float),
    ("kvittens_code", sa.String(20)),
    ("kvittens_at", sa.Float),
    ("kvittens_message_id", sa.String(200)),
)


def upgrade() -> None:
    for name, type_ in _OUTBOX_COLUMNS:
        op.add_column("outbox", sa.Column(name, type_, nullable=True))
    op.add_column("outbox", sa.Column("replay_count", sa.Integer, nullable=False, server_default="0"))
    op.create_index("ix_outbox_created", "outbox", ["created_at"])
    pending = sa.text("status = 'pending'")
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["case_id", "recipient", "id"],
        postgresql_where=pending,
        sqlite_where=pending,
    )
    op.create_index("ix_inbox_bundle_id", "inbox", ["bundle_id"])
    # Rows given up before this revision have no dead_at: take the last time they were touched.
    op.execute("UPDATE outbox SET dead_at = next_attempt_at WHERE status = 'dead'")


def downgrade() -> None:
    op.drop_index("ix_inbox_bundle_id", "inbox")
    op.drop_index("ix_outbox_pending", "outbox")
    op.drop_index("ix_outbox_created", "outbox")
    with op.batch_alter_table("outbox") as batch:
        for name in ("replay_count", *(n for n, _ in reversed(_OUTBOX_COLUMNS))):
            batch.drop_column(name)
