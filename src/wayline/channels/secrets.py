"""Per-workspace secrets of the channels, created on first need.

A secret signs or logs in; it must stay readable, so it is stored encrypted with the
store's secret key (``wayline.store.secret_box``: the column decrypts it on the way out),
never logged and never returned by the API (``workspace_secrets``).
"""

from __future__ import annotations

import sqlalchemy as sa

from wayline.channels.signing import new_secret
from wayline.store import schema
from wayline.store.base import Store
from wayline.store.sql import SqlStore

#: The Standard Webhooks signing secret (``whsec_…``).
WEBHOOK_SIGNING = "webhook_signing"
#: The key of the tracking tokens (opens, clicks, unsubscribes) in messages.
TRACKING_SIGNING = "tracking_signing"


def webhook_secret(store: Store, workspace_id: str) -> str:
    """The workspace's webhook signing secret, created the first time it is asked for."""
    return generated_secret(store, workspace_id, WEBHOOK_SIGNING)


def generated_secret(store: Store, workspace_id: str, name: str) -> str:
    """A random secret of the workspace, created the first time it is asked for.

    Two processes asking at once both insert, one wins, and both read the winner's.
    """
    if not isinstance(store, SqlStore):
        raise TypeError(f"secrets live in a SQL store, not in {type(store).__name__}")
    t = schema.workspace_secrets
    query = sa.select(t.c.value).where(t.c.workspace_id == workspace_id, t.c.name == name)
    with store.engine.connect() as conn:
        found = conn.scalar(query)
    if found is not None:
        return str(found)
    with store._write() as conn:
        conn.execute(
            store._insert(t)
            .values(
                workspace_id=workspace_id,
                name=name,
                value=new_secret(),
                created_at=store.clock.now(),
            )
            .on_conflict_do_nothing(index_elements=["workspace_id", "name"])
        )
        return str(conn.execute(query).scalar_one())


def stored_secret(store: Store, workspace_id: str, name: str) -> str | None:
    """A secret the workspace was given (an SMTP password, a DKIM key), if it was."""
    if not isinstance(store, SqlStore):
        raise TypeError(f"secrets live in a SQL store, not in {type(store).__name__}")
    t = schema.workspace_secrets
    with store.engine.connect() as conn:
        found = conn.scalar(
            sa.select(t.c.value).where(t.c.workspace_id == workspace_id, t.c.name == name)
        )
    return None if found is None else str(found)


def set_secret(store: Store, workspace_id: str, name: str, value: str | None) -> None:
    """Keep (or, with None, forget) a secret the workspace gives."""
    if not isinstance(store, SqlStore):
        raise TypeError(f"secrets live in a SQL store, not in {type(store).__name__}")
    t = schema.workspace_secrets
    with store._write() as conn:
        conn.execute(sa.delete(t).where(t.c.workspace_id == workspace_id, t.c.name == name))
        if value is not None:
            conn.execute(
                sa.insert(t).values(
                    workspace_id=workspace_id,
                    name=name,
                    value=value,
                    created_at=store.clock.now(),
                )
            )
