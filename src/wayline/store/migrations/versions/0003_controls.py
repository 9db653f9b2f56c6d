"""Global controls: a workspace's frequency caps and quiet hours, and what they count.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.schema import UtcDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspace_controls",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.add_column(
        "outbox",
        sa.Column("transactional", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_index(
        "ix_outbox_profile_channel",
        "outbox",
        ["workspace_id", "profile_id", "channel", "created_at"],
    )
    op.create_index("ix_outbox_journey", "outbox", ["workspace_id", "journey_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_outbox_journey", table_name="outbox")
    op.drop_index("ix_outbox_profile_channel", table_name="outbox")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("transactional")
    op.drop_table("workspace_controls")
