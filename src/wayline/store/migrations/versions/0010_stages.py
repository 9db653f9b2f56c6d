"""Stages: each workspace's stage model, each customer's current stage, and the log of
stage changes (announced as ``Stage Entered`` events).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.schema import BigId, UtcDateTime

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stage_models",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("typical", sa.Text(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "customer_stages",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("profile_id", sa.String(40), primary_key=True),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("entered_at", UtcDateTime(), nullable=False),
        sa.Column("previous_stage", sa.String(64), nullable=True),
    )
    op.create_index("ix_customer_stages_stage", "customer_stages", ["workspace_id", "stage"])
    op.create_table(
        "stage_changes",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("stage", sa.String(64), nullable=False),
        sa.Column("previous_stage", sa.String(64), nullable=True),
        sa.Column("previous_stage_duration", sa.Float(), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.Column("pending", sa.Boolean(), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_stage_changes_profile", "stage_changes", ["workspace_id", "profile_id", "at"]
    )
    op.create_index("ix_stage_changes_pending", "stage_changes", ["pending"])


def downgrade() -> None:
    op.drop_table("stage_changes")
    op.drop_table("customer_stages")
    op.drop_table("stage_models")
