"""Messaging: templates, variables, channel settings, subscriptions, message history.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.schema import BigId, UtcDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_templates",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "workspace_variables",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "channel_configs",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("config", sa.Text(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "subscriptions",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("profile_id", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("source", sa.String(40), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "message_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("instance_id", sa.BigInteger(), nullable=True),
        sa.Column("node", sa.String(100), nullable=True),
        sa.Column("profile_id", sa.String(40), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("at", UtcDateTime(), nullable=False),
        sa.UniqueConstraint("message_id", "kind", "key", name="uq_message_events_once"),
    )
    op.create_index("ix_message_events_instance", "message_events", ["instance_id", "node"])
    op.create_index("ix_message_events_profile", "message_events", ["workspace_id", "profile_id"])


def downgrade() -> None:
    for table in (
        "message_events",
        "subscriptions",
        "channel_configs",
        "workspace_variables",
        "message_templates",
    ):
        op.drop_table(table)
