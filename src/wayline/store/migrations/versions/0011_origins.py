"""Origins: the web pages allowed to send a workspace's events from the browser (CORS).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.schema import UtcDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspace_origins",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("origin", sa.String(255), primary_key=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("workspace_origins")
