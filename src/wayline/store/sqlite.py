"""SQLite: the embedded default. One file in the data dir, WAL, one writer at a time."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection

from wayline.clock import Clock
from wayline.errors import ConsumerConflict
from wayline.store import schema
from wayline.store.base import (
    Cursor,
    IdentityBatch,
    IdentityChanges,
    InboxEvent,
)
from wayline.store.identities import SqlIdentityBatch
from wayline.store.rows import inbox_event
from wayline.store.sql import PROFILES_CONSUMER, SqlStore

log = logging.getLogger("wayline.store")

_INSERT_EVENTS = (
    "INSERT INTO inbox (workspace_id, message_id, type, event, user_id, anonymous_id,"
    " timestamp, received_at, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (workspace_id, message_id) DO NOTHING"
)


def _sqlite_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class SqliteStore(SqlStore):
    dialect = "sqlite"
    _insert = staticmethod(sqlite_insert)

    def __init__(self, url: str, clock: Clock, *, synchronous: str = "NORMAL") -> None:
        database = sa.make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        # The driver's own transaction handling is switched off so that every transaction
        # begins explicitly: writers with BEGIN IMMEDIATE, which takes the write lock up front
        # instead of failing half-way when a reader wants to become a writer.
        engine = sa.create_engine(
            url, connect_args={"isolation_level": None, "check_same_thread": False, "timeout": 30}
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA busy_timeout=30000")
            # Deleted content is overwritten with zeros, in the file and in the WAL's copy
            # of each page, so that an erased customer cannot be read back from the disk.
            # Builds differ in their default (SQLITE_SECURE_DELETE): it is set, not assumed.
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            immediate = conn.get_execution_options().get("wayline_write", False)
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        super().__init__(engine, clock)
        self._writer = engine.execution_options(wayline_write=True)
        # The writers of this process queue here, and the next one starts the moment the
        # lock is free. Waiting in SQLite instead means sleeping in steps of up to 100 ms
        # (its busy handler), which each loop of a chain of loops would pay again.
        self._write_lock = threading.RLock()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._write_lock, self._writer.begin() as conn:
            yield conn

    def _after_erase(self, tables: Sequence[str]) -> None:
        # The WAL still holds the pages as they were before the erase (a checkpoint copies
        # them into the file but leaves the WAL's bytes in place until they are written
        # over). TRUNCATE copies every frame into the file, now zeroed where the customer
        # was, and cuts the WAL to nothing; it waits (busy_timeout) for readers to finish.
        with self._write_lock, self.engine.connect() as conn:
            busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        if busy:
            log.warning("erase: the WAL could not be truncated (a reader held it)")

    def _insert_events(self, conn: Connection, rows: list[dict[str, Any]]) -> int:
        # The hot path of ingestion: straight to the driver, which is about twice as fast as
        # going through SQLAlchemy's parameter processing. Times are stored in the format
        # SQLAlchemy's SQLite DateTime reads back.
        params = [
            (
                r["workspace_id"],
                r["message_id"],
                r["type"],
                r["event"],
                r["user_id"],
                r["anonymous_id"],
                _sqlite_time(r["timestamp"]),
                _sqlite_time(r["received_at"]),
                r["payload"],
            )
            for r in rows
        ]
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(_INSERT_EVENTS, params)
            # executemany's rowcount is the number of rows actually inserted
            return int(cursor.rowcount)
        finally:
            cursor.close()

    @contextmanager
    def identity_batch(
        self, limit: int, *, events: Sequence[InboxEvent] | None = None
    ) -> Iterator[IdentityBatch]:
        # SQLite has one writer at a time, and ingestion is a writer. The batch is read and
        # worked out in a snapshot; the write lock is taken only to save, after checking
        # that nothing it was based on has moved: the cursor (another consumer) and the
        # stored profiles it writes to (an erase in between).
        with self.engine.connect() as conn, conn.begin():
            cursor = self._cursor(conn, PROFILES_CONSUMER)
            taken = self._read_inbox(conn, cursor, limit) if events is None else list(events)
            batch = SqlIdentityBatch(self, conn, taken, cursor, moves_cursor=events is None)
            yield batch

    def _save_identities(
        self, batch: SqlIdentityBatch, conn: Connection, changes: IdentityChanges
    ) -> None:
        if not batch.events:
            return
        with self._write() as writer:
            if self._cursor(writer, PROFILES_CONSUMER) != batch.cursor:
                raise ConsumerConflict("another consumer took this slice of the inbox")
            batch.apply(writer, changes)
            if batch.moves_cursor:
                self._set_cursor(writer, PROFILES_CONSUMER, batch.cursor, batch.events[-1].cursor)

    def _read_inbox(self, conn: Connection, after: Cursor, limit: int) -> list[InboxEvent]:
        # One writer at a time: sequence order is commit order.
        t = schema.inbox
        rows = conn.execute(sa.select(t).where(t.c.seq > after.seq).order_by(t.c.seq).limit(limit))
        return [inbox_event(r) for r in rows]
