"""PostgreSQL: the scaled deployment. Many processes, coordinated only through the database."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from wayline.clock import Clock
from wayline.store import schema
from wayline.store.base import Cursor, Identity, Profile
from wayline.store.sql import SqlStore


def normalise_url(url: str) -> str:
    """``postgresql://`` as users write it, with the psycopg 3 driver SQLAlchemy needs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class PostgresStore(SqlStore):
    dialect = "postgresql"

    def __init__(self, url: str, clock: Clock, *, pool_size: int = 10) -> None:
        engine = sa.create_engine(
            normalise_url(url), pool_size=pool_size, max_overflow=20, pool_pre_ping=True
        )
        super().__init__(engine, clock)
        self._growth_lock = threading.Lock()
        self._grown = 0
        self._size_at_analyze = 0

    def _insert_events(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        stmt = (
            pg_insert(schema.inbox)
            .values(txid=sa.func.txid_current())
            .on_conflict_do_nothing(index_elements=["workspace_id", "message_id"])
            .returning(schema.inbox.c.seq)
        )
        return len(conn.execute(stmt, rows).all())

    def _upsert_identities(
        self, conn: Connection, identities: Sequence[Identity], now: datetime
    ) -> None:
        stmt = pg_insert(schema.identities)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["workspace_id", "kind", "value"],
                set_={"profile_id": stmt.excluded.profile_id},
            ),
            [
                {
                    "workspace_id": i.workspace_id,
                    "kind": i.kind.value,
                    "value": i.value,
                    "profile_id": i.profile_id,
                    "first_seen": now,
                }
                for i in identities
            ],
        )

    def _upsert_profiles(
        self, conn: Connection, profiles: Sequence[Profile], now: datetime
    ) -> None:
        stmt = pg_insert(schema.profiles)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["id"],
                set_={c: stmt.excluded[c] for c in ("traits", "trait_times", "updated_at")},
            ),
            self._profile_rows(profiles, now),
        )

    def _bump(self, conn: Connection, workspace_id: str, name: str, delta: int) -> None:
        stmt = pg_insert(schema.counters).values(workspace_id=workspace_id, name=name, value=delta)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["workspace_id", "name"],
                set_={"value": schema.counters.c.value + stmt.excluded.value},
            )
        )

    def _inbox_after(self, after: Cursor, limit: int) -> sa.Select[Any]:
        # Sequence numbers are taken before commit, so a later number can become visible
        # first. Reading only below the oldest transaction still running means no row can
        # appear behind the cursor afterwards.
        t = schema.inbox
        horizon = sa.func.txid_snapshot_xmin(sa.func.txid_current_snapshot())
        return (
            sa.select(t)
            .where(sa.tuple_(t.c.txid, t.c.seq) > sa.tuple_(after.txid, after.seq))
            .where(t.c.txid < horizon)
            .order_by(t.c.txid, t.c.seq)
            .limit(limit)
        )

    def _tables_grew(self, rows: int) -> None:
        # The consumer looks identities up by `value IN (…)` on the primary key. Until a
        # table has statistics the planner believes it nearly empty and filters the whole
        # workspace instead, which costs a second per batch once there are a few hundred
        # thousand identities. Autovacuum analyses only after up to a minute, so a store
        # that has grown by half since the last look refreshes the statistics itself.
        with self._growth_lock:
            self._grown += rows
            if self._grown < max(1000, self._size_at_analyze // 2):
                return
            self._size_at_analyze += self._grown
            self._grown = 0
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE identities, profiles, inbox")

    def _prepare_inbox_read(self, conn: Connection) -> None:
        # A consumer must walk the (txid, seq) index from its cursor and stop after `limit`
        # rows. On a young or fast-growing table the planner's statistics are stale and it
        # prefers a bitmap scan of the whole backlog plus a sort: each batch then costs as
        # much as the backlog. The read is only ever this one shape, so the plan is pinned.
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")

    def _lock_cursor(self, conn: Connection, name: str) -> Cursor:
        t = schema.consumer_cursors
        conn.execute(
            pg_insert(t)
            .values(name=name, txid=0, seq=0, updated_at=self.clock.now())
            .on_conflict_do_nothing(index_elements=["name"])
        )
        row = conn.execute(
            sa.select(t.c.txid, t.c.seq).where(t.c.name == name).with_for_update()
        ).one()
        return Cursor(txid=row.txid, seq=row.seq)
