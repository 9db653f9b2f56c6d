"""PostgreSQL: the scaled deployment. Many processes, coordinated only through the database."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import Connection

from wayline.clock import Clock
from wayline.store import schema
from wayline.store.base import Cursor, InboxEvent
from wayline.store.rows import inbox_event
from wayline.store.sql import SqlStore

#: The oldest transaction id (64-bit, as txid_current() gives it) of the transactions now
#: holding a write lock on the inbox, or the next id to be given out when there are none.
#: Every insert into the inbox takes that lock before its transaction gets an id (the insert
#: is the first write of the transactions that make it), so a transaction missing from this
#: list either has finished or will get a newer id. pg_locks shows 32-bit ids: they are
#: widened with the epoch of the next id.
_INBOX_HORIZON = """
WITH next AS (SELECT txid_snapshot_xmax(txid_current_snapshot()) AS xmax),
writers AS (
  SELECT x.transactionid::text::bigint AS xid
  FROM pg_locks r JOIN pg_locks x
    ON x.virtualtransaction = r.virtualtransaction AND x.locktype = 'transactionid'
  WHERE r.locktype = 'relation' AND r.mode = 'RowExclusiveLock'
    AND r.database = (SELECT oid FROM pg_database WHERE datname = current_database())
    AND r.relation = 'inbox'::regclass
)
SELECT COALESCE(MIN(CASE WHEN ((next.xmax >> 32) << 32) + writers.xid >= next.xmax
                         THEN ((next.xmax >> 32) << 32) + writers.xid - 4294967296
                         ELSE ((next.xmax >> 32) << 32) + writers.xid END),
                MIN(next.xmax))
FROM next LEFT JOIN writers ON TRUE
"""


def normalise_url(url: str) -> str:
    """``postgresql://`` as users write it, with the psycopg 3 driver SQLAlchemy needs."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class PostgresStore(SqlStore):
    dialect = "postgresql"
    _insert = staticmethod(pg_insert)

    def __init__(self, url: str, clock: Clock, *, pool_size: int = 10) -> None:
        engine = sa.create_engine(
            normalise_url(url), pool_size=pool_size, max_overflow=20, pool_pre_ping=True
        )
        super().__init__(engine, clock)
        self._growth_lock = threading.Lock()
        #: Per set of tables: rows added since their last ANALYZE, and their size then.
        self._growth: dict[str, tuple[int, int]] = {}

    def _insert_events(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        stmt = (
            pg_insert(schema.inbox)
            .values(txid=sa.func.txid_current())
            .on_conflict_do_nothing(index_elements=["workspace_id", "message_id"])
            .returning(schema.inbox.c.seq)
        )
        return len(conn.execute(stmt, rows).all())

    def _tables_grew(self, rows: int, tables: str = "identities, profiles") -> None:
        # Consumers look identities up by `value IN (…)` on the primary key, and journey
        # enrolments by profile. Until a table has statistics the planner believes it
        # nearly empty and filters the whole workspace instead: a tenth of a second per
        # lookup with a few tens of thousands of customers, far more later. Autovacuum
        # analyses only after up to a minute, so tables that have grown by half since the
        # last look refresh their statistics here.
        with self._growth_lock:
            grown, size = self._growth.get(tables, (0, 0))
            grown += rows
            if grown < max(1000, size // 2):
                self._growth[tables] = (grown, size)
                return
            self._growth[tables] = (0, size + grown)
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"ANALYZE {tables}")

    def _after_erase(self, tables: Sequence[str]) -> None:
        # Deleted tuples stay in the tables' pages until a VACUUM prunes them (which no
        # transaction may hold): the tables an erase deletes from are vacuumed now, rather
        # than whenever autovacuum gets round to them.
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql(f"VACUUM {', '.join(tables)}")

    def _read_inbox(self, conn: Connection, after: Cursor, limit: int) -> list[InboxEvent]:
        # Sequence numbers are taken before commit, so a later number can become visible
        # first. A consumer therefore reads only rows written by transactions older than
        # every transaction still writing the inbox: no row can appear behind it later.
        # The horizon is found in its own statement, before the read, so that the read's
        # snapshot (READ COMMITTED: one per statement) sees everything below it.
        horizon = conn.exec_driver_sql(_INBOX_HORIZON).scalar_one()
        # The read must walk the (txid, seq) index from the cursor and stop after `limit`
        # rows. On a young or fast-growing table the planner's statistics are stale and it
        # prefers a bitmap scan of the whole backlog plus a sort, so each batch would cost
        # as much as the backlog. The read is only ever this one shape: the plan is pinned.
        conn.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
        t = schema.inbox
        rows = conn.execute(
            sa.select(t)
            .where(sa.tuple_(t.c.txid, t.c.seq) > sa.tuple_(after.txid, after.seq))
            .where(t.c.txid < horizon)
            .order_by(t.c.txid, t.c.seq)
            .limit(limit)
        )
        return [inbox_event(r) for r in rows]

    def _claim_rows(self, query: sa.Select[Any]) -> sa.Select[Any]:
        # Several dispatchers claim at once: each skips the rows another holds instead of
        # waiting for its commit and then finding them taken.
        return query.with_for_update(skip_locked=True)

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
