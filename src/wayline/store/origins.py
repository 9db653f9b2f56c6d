"""A workspace's allowed web origins in the state store, one row per origin.

No rows means any origin may send (see ``wayline.origins`` and docs/api.md). Origins are
stored normalised (``wayline.origins.normalise_origin``): the callers normalise first.
"""

from __future__ import annotations

import sqlalchemy as sa

from wayline.store import schema
from wayline.store.sql import SqlStore


class OriginsStore:
    """Allowed origins per workspace, over the shared SQL store."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def allowed(self, workspace_id: str) -> list[str]:
        """The workspace's origins, sorted; empty when any origin may send."""
        t = schema.workspace_origins
        query = sa.select(t.c.origin).where(t.c.workspace_id == workspace_id).order_by(t.c.origin)
        with self.store.engine.connect() as conn:
            return list(conn.scalars(query))

    def add(self, workspace_id: str, origin: str) -> bool:
        """Allow ``origin``; False when it already was."""
        t = schema.workspace_origins
        stmt = self.store._insert(t).values(
            workspace_id=workspace_id, origin=origin, created_at=self.store.clock.now()
        )
        stmt = stmt.on_conflict_do_nothing(index_elements=["workspace_id", "origin"])
        # a row comes back only when one was inserted (rowcount is not reliable on psycopg)
        with self.store._write() as conn:
            return conn.execute(stmt.returning(t.c.origin)).first() is not None

    def remove(self, workspace_id: str, origin: str) -> bool:
        """Stop allowing ``origin``; False when it was not listed."""
        t = schema.workspace_origins
        stmt = sa.delete(t).where(t.c.workspace_id == workspace_id, t.c.origin == origin)
        with self.store._write() as conn:
            return bool(conn.execute(stmt).rowcount)

    def replace(self, workspace_id: str, origins: list[str]) -> list[str]:
        """Make ``origins`` the whole list (empty: any origin); answers it sorted."""
        t = schema.workspace_origins
        wanted = sorted(set(origins))
        now = self.store.clock.now()
        with self.store._write() as conn:
            conn.execute(sa.delete(t).where(t.c.workspace_id == workspace_id))
            if wanted:
                conn.execute(
                    sa.insert(t),
                    [
                        {"workspace_id": workspace_id, "origin": o, "created_at": now}
                        for o in wanted
                    ],
                )
        return wanted
