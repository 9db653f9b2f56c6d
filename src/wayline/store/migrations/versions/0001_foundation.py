"""Foundation: workspaces, credentials, inbox, rejections, profiles, identities, counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.schema import BigId, UtcDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False, unique=True),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="UTC"),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "credentials",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(40), sa.ForeignKey("workspaces.id"), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("revoked_at", UtcDateTime(), nullable=True),
    )
    op.create_table(
        "inbox",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("event", sa.String(255), nullable=True),
        sa.Column("user_id", sa.String(255), nullable=True),
        sa.Column("anonymous_id", sa.String(255), nullable=True),
        sa.Column("timestamp", UtcDateTime(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=True),
        sa.UniqueConstraint("workspace_id", "message_id", name="uq_inbox_message"),
    )
    op.create_index("ix_inbox_user", "inbox", ["workspace_id", "user_id"])
    op.create_index("ix_inbox_anonymous", "inbox", ["workspace_id", "anonymous_id"])
    if op.get_bind().dialect.name == "postgresql":
        # consumers read in (txid, seq) order; SQLite reads by seq alone
        op.create_index("ix_inbox_txid", "inbox", ["txid", "seq"])
    op.create_table(
        "rejections",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=True),
    )
    op.create_index("ix_rejections_workspace", "rejections", ["workspace_id", "id"])
    op.create_table(
        "profiles",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("traits", sa.Text(), nullable=False),
        sa.Column("trait_times", sa.Text(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_profiles_workspace", "profiles", ["workspace_id"])
    op.create_table(
        "identities",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("value", sa.String(255), primary_key=True),
        sa.Column("profile_id", sa.String(40), nullable=False),
        sa.Column("first_seen", UtcDateTime(), nullable=False),
    )
    op.create_index("ix_identities_profile", "identities", ["profile_id"])
    op.create_table(
        "profile_merges",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("from_profile_id", sa.String(40), nullable=False),
        sa.Column("into_profile_id", sa.String(40), nullable=False),
        sa.Column("merged_at", UtcDateTime(), nullable=False),
        sa.Column("message_id", sa.String(255), nullable=False),
    )
    op.create_index("ix_profile_merges_from", "profile_merges", ["workspace_id", "from_profile_id"])
    op.create_table(
        "counters",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "consumer_cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "erasures",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("workspace_id", sa.String(40), nullable=False),
        sa.Column("requested_at", UtcDateTime(), nullable=False),
        sa.Column("identities", sa.Text(), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "erasures",
        "consumer_cursors",
        "counters",
        "profile_merges",
        "identities",
        "profiles",
        "rejections",
        "inbox",
        "credentials",
        "workspaces",
    ):
        op.drop_table(table)
