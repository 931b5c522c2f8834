"""The tidbok: this adapter's own party's Schedule and Slot resources (docs/tidbok.md).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("schedule_id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("resource", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_schedules_actor", "schedules", ["actor"])
    op.create_table(
        "slots",
        sa.Column("slot_id", sa.String(64), primary_key=True),
        sa.Column("schedule_id", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(100), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("start", sa.Float, nullable=False),
        sa.Column("end", sa.Float, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("mode", sa.String(20), nullable=True),
        sa.Column("case_id", sa.String(200), nullable=True),
        sa.Column("appointment_id", sa.String(200), nullable=True),
        sa.Column("resource", sa.JSON, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_slots_search", "slots", ["actor", "status", "start"])
    op.create_index("ix_slots_schedule", "slots", ["schedule_id"])
    op.create_index("ix_slots_appointment", "slots", ["case_id", "appointment_id"])


def downgrade() -> None:
    op.drop_table("slots")
    op.drop_table("schedules")
