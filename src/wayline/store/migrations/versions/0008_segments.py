"""Segments: definitions, members, the log of changes (and their events), re-checks.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.schema import BigId, UtcDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "segments",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("segment_id", sa.String(128), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "segment_members",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("segment_id", sa.String(128), primary_key=True),
        sa.Column("profile_id", sa.String(40), primary_key=True),
        sa.Column("entered_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_segment_members_profile", "segment_members", ["workspace_id", "profile_id"])
    op.create_table(
        "segment_changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("segment_id", sa.String(128), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
    )
    op.create_index(
        "ix_segment_changes_segment", "segment_changes", ["workspace_id", "segment_id", "at"]
    )
    op.create_index("ix_segment_changes_pending", "segment_changes", ["pending"])
    op.create_table(
        "segment_rechecks",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("profile_id", sa.String(40), primary_key=True),
        sa.Column("due_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_segment_rechecks_due", "segment_rechecks", ["due_at"])


def downgrade() -> None:
    op.drop_table("segment_rechecks")
    op.drop_table("segment_changes")
    op.drop_table("segment_members")
    op.drop_table("segments")
