"""In-app content: what journeys delivered to each customer per placement, and the
placements' default rules.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.schema import UtcDateTime

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "content_items",
        sa.Column("message_id", sa.BigInteger(), primary_key=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("placement", sa.String(100), nullable=False),
        sa.Column("template", sa.String(100), nullable=False),
        sa.Column("template_version", sa.Integer(), nullable=False),
        sa.Column("journey_id", sa.String(100), nullable=True),
        sa.Column("node", sa.String(100), nullable=True),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("expires_at", UtcDateTime(), nullable=True),
        sa.Column("dismissed_at", UtcDateTime(), nullable=True),
        sa.Column("served_at", UtcDateTime(), nullable=True),
    )
    op.create_index(
        "ix_content_items_profile", "content_items", ["workspace_id", "profile_id", "placement"]
    )
    op.create_table(
        "content_placements",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("content_placements")
    op.drop_table("content_items")
