"""Consent: subscription groups and the suppression list.

On SQLite, ``inbox`` and ``outbox`` are rebuilt with AUTOINCREMENT: a plain rowid is
reused once the highest row is deleted (an erased customer's latest events or messages),
so new events fell behind the consumers' cursors and a new message could take the id an
erased one's tracking links still carry.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.schema import UtcDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription_groups",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("topic", sa.String(100), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("default_consent", sa.String(8), nullable=False),
        sa.Column("double_opt_in", sa.Boolean(), nullable=False),
        sa.Column("confirmation_template", sa.String(100), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
    )
    op.create_table(
        "suppressions",
        sa.Column("workspace_id", sa.String(40), primary_key=True),
        sa.Column("channel", sa.String(16), primary_key=True),
        sa.Column("address_hash", sa.String(64), primary_key=True),
        sa.Column("address", sa.String(255), nullable=True),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
    )

    if op.get_bind().dialect.name == "sqlite":
        for table in ("inbox", "outbox"):
            with op.batch_alter_table(
                table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
            ):
                pass


def downgrade() -> None:
    op.drop_table("suppressions")
    op.drop_table("subscription_groups")
