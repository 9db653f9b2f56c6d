"""Rejection ids: the ids a rejected item carries, in indexed columns, so that an erase
removes the customer's rejected items too. Rows already kept are read and filled in.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from wayline.store.rejections import keys_of

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_COLUMNS = ("user_id", "anonymous_id", "email")


def upgrade() -> None:
    with op.batch_alter_table("rejections") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.String(255), nullable=True))
    for name, column in (
        ("ix_rejections_user", "user_id"),
        ("ix_rejections_anonymous", "anonymous_id"),
        ("ix_rejections_email", "email"),
    ):
        op.create_index(name, "rejections", ["workspace_id", column])
    conn = op.get_bind()
    t = sa.table(
        "rejections",
        sa.column("id", sa.BigInteger()),
        sa.column("payload", sa.LargeBinary()),
        *(sa.column(name, sa.String()) for name in _COLUMNS),
    )
    last = 0
    while True:
        rows = conn.execute(
            sa.select(t.c.id, t.c.payload)
            .where(t.c.id > last, t.c.payload.is_not(None))
            .order_by(t.c.id)
            .limit(1000)
        ).all()
        if not rows:
            break
        for row in rows:
            keys = keys_of(bytes(row.payload))
            if any(keys.values()):
                conn.execute(sa.update(t).where(t.c.id == row.id).values(**keys))
        last = rows[-1].id


def downgrade() -> None:
    for name in ("ix_rejections_email", "ix_rejections_anonymous", "ix_rejections_user"):
        op.drop_index(name, "rejections")
    with op.batch_alter_table("rejections") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
