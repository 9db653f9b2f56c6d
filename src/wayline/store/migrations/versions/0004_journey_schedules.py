"""Journey schedules: the occurrences of schedule entries that fired, and their progress.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.schema import UtcDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journey_schedule_runs",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("journey_id", sa.String(100), primary_key=True),
        sa.Column("occurrence", sa.String(40), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cursor", sa.String(40), nullable=False),
        sa.Column("entered", sa.Integer(), nullable=False),
        sa.Column("refused", sa.Integer(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
    )
    op.create_index("ix_journey_schedule_runs_state", "journey_schedule_runs", ["state"])


def downgrade() -> None:
    op.drop_index("ix_journey_schedule_runs_state", table_name="journey_schedule_runs")
    op.drop_table("journey_schedule_runs")
