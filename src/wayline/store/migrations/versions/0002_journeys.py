"""Journeys: versions, instances, waits, enrolments, steps, the outbox, workspace secrets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.schema import BigId, UtcDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "journeys",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("journey_id", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "journey_versions",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("journey_id", sa.String(100), primary_key=True),
        sa.Column("version", sa.Integer(), primary_key=True),
        sa.Column("spec", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "journey_instances",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("journey_id", sa.String(100), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("entry_key", sa.String(255), nullable=False),
        sa.Column("node", sa.String(100), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("wake_at", UtcDateTime(), nullable=True),
        sa.Column("context", sa.Text(), nullable=False),
        sa.Column("entered_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_journey_instances_due", "journey_instances", ["wake_at"])
    op.create_index(
        "ix_journey_instances_profile",
        "journey_instances",
        ["workspace_id", "journey_id", "profile_id"],
    )
    op.create_table(
        "journey_waits",
        sa.Column("instance_id", sa.BigInteger(), primary_key=True),
        sa.Column("kind", sa.String(8), primary_key=True),
        sa.Column("event", sa.String(255), primary_key=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("key_path", sa.String(200), nullable=False),
        sa.Column("key_value", sa.String(255), nullable=False),
    )
    op.create_index(
        "ix_journey_waits_match",
        "journey_waits",
        ["workspace_id", "event", "key_path", "key_value"],
    )
    op.create_table(
        "journey_enrolments",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("journey_id", sa.String(100), primary_key=True),
        sa.Column("profile_id", sa.String(40), primary_key=True),
        sa.Column("entry_key", sa.String(255), primary_key=True),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("last_entered_at", UtcDateTime(), nullable=False),
        sa.Column("active_instance_id", sa.BigInteger(), nullable=True),
    )
    op.create_table(
        "journey_steps",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("instance_id", sa.BigInteger(), nullable=False),
        sa.Column("journey_id", sa.String(100), nullable=False),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("node", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_journey_steps_instance", "journey_steps", ["instance_id", "id"])
    op.create_index(
        "ix_journey_steps_journey", "journey_steps", ["workspace_id", "journey_id", "node"]
    )
    op.create_table(
        "outbox",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False, unique=True),
        sa.Column("instance_id", sa.BigInteger(), nullable=True),
        sa.Column("journey_id", sa.String(100), nullable=True),
        sa.Column("node", sa.String(100), nullable=True),
        sa.Column("profile_id", sa.String(40), nullable=True),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
    )
    op.create_index("ix_outbox_due", "outbox", ["state", "next_attempt_at"])
    op.create_table(
        "workspace_secrets",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "workspace_secrets",
        "outbox",
        "journey_steps",
        "journey_enrolments",
        "journey_waits",
        "journey_instances",
        "journey_versions",
        "journeys",
    ):
        op.drop_table(table)
