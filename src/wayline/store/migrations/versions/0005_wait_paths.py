"""The key paths journeys wait on, per workspace and event: what the trigger consumer
looks up for each event, without a scan of every wait.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
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
        "journey_wait_paths",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("event", sa.String(255), primary_key=True),
        sa.Column("key_path", sa.String(200), primary_key=True),
    )
    op.execute(
        "INSERT INTO journey_wait_paths (workspace_id, event, key_path) "
        "SELECT DISTINCT workspace_id, event, key_path FROM journey_waits"
    )


def downgrade() -> None:
    op.drop_table("journey_wait_paths")
