"""The warehouse on PostgreSQL: for deployments that run several processes or hosts.

Loads stream rows with ``COPY`` (far faster than INSERTs) inside a transaction that also
moves the loader's cursor, holding the cursor's row lock: any number of loader processes
may run, and each slice of the inbox is loaded by exactly one of them. Erasure takes the
same lock, so it never interleaves with a load in another process.

The JSON columns are ``json`` rather than ``jsonb``: they keep what was sent, load faster,
and accept every string a Segment payload can carry (``jsonb`` rejects ``\\u0000``, which
would wedge the loader on one bad event).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.analytics.warehouse import EVENT_COLUMNS, EVENTS_LOAD, EventColumns, Warehouse
from wayline.store.base import Cursor
from wayline.store.postgres import normalise_url

_DDL: Final = (
    """
    CREATE TABLE IF NOT EXISTS events (
        workspace_id text NOT NULL,
        seq bigint NOT NULL,
        message_id text NOT NULL,
        type text NOT NULL,
        event text,
        user_id text,
        anonymous_id text,
        timestamp timestamptz NOT NULL,
        received_at timestamptz NOT NULL,
        properties json,
        context json,
        traits json,
        payload json NOT NULL
    )
    """,
    # Erasure finds a customer's rows by these; analytics scan by workspace and time.
    "CREATE INDEX IF NOT EXISTS ix_events_user ON events (workspace_id, user_id)",
    "CREATE INDEX IF NOT EXISTS ix_events_anonymous ON events (workspace_id, anonymous_id)",
    """
    CREATE TABLE IF NOT EXISTS load_state (
        name text PRIMARY KEY,
        txid bigint NOT NULL,
        seq bigint NOT NULL
    )
    """,
    f"INSERT INTO load_state VALUES ('{EVENTS_LOAD}', 0, 0) ON CONFLICT DO NOTHING",
)
#: Serialises schema creation between processes starting at once.
_SCHEMA_LOCK: Final = 0x7761796C696E65  # "wayline"
_COPY: Final = f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN"
#: Plain-text columns: PostgreSQL text cannot hold NUL, which other stores can.
_TEXT_COLUMNS: Final = ("workspace_id", "message_id", "type", "event", "user_id", "anonymous_id")


def _without_nul(columns: EventColumns) -> EventColumns:
    cleaned = dict(columns)
    for name in _TEXT_COLUMNS:
        values = columns[name]
        if "\x00" in "".join(v for v in values if v):
            cleaned[name] = [v.replace("\x00", "") if v else v for v in values]
    return cleaned


def _path1(j: Any, a: Any) -> Any: ...
def _path2(j: Any, a: Any, b: Any) -> Any: ...
def _path3(j: Any, a: Any, b: Any, c: Any) -> Any: ...


def _json_extract_path_text(column: Any, path: tuple[str, ...]) -> Any:
    """``json_extract_path_text(column, 'a', 'b')``: variadic in SQL, so one Ibis builtin
    per depth of path (one to three keys)."""
    import ibis

    stubs = {1: _path1, 2: _path2, 3: _path3}
    if len(path) not in stubs:
        raise ValueError(f"JSON paths are 1 to 3 keys deep, not {len(path)}")
    function = ibis.udf.scalar.builtin(
        stubs[len(path)],
        name="json_extract_path_text",
        signature=(("json", *("string",) * len(path)), "string"),
    )
    return function(column, *path)


def _get_stub(j: Any, a: Any) -> Any: ...
def _typeof_stub(j: Any) -> Any: ...


def _json_get(column: Any, path: Sequence[str]) -> Any:
    """``json_extract_path(json_extract_path(column, 'a'), 'b')``…: one key at a time, so
    any depth of path compiles (a missing key gives null, and so does every step after)."""
    import ibis

    function = ibis.udf.scalar.builtin(
        _get_stub, name="json_extract_path", signature=(("json", "string"), "json")
    )
    for key in path:
        column = function(column, key)
    return column


class _PostgresLoad:
    def __init__(self, warehouse: PostgresWarehouse, conn: Connection) -> None:
        self._warehouse = warehouse
        self._conn = conn
        self.cursor = warehouse._lock_cursor(conn)

    def append(self, columns: EventColumns, cursor: Cursor) -> None:
        self._warehouse._insert_events(self._conn, columns)
        self._warehouse._save_cursor(self._conn, cursor)


class PostgresWarehouse(Warehouse):
    dialect = "postgresql"

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = sa.make_url(normalise_url(url))
        self.engine = sa.create_engine(self._url, pool_size=2, max_overflow=4, pool_pre_ping=True)
        with self.engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            for statement in _DDL:
                conn.exec_driver_sql(statement)
        self._ibis: Any = None
        #: Rows were deleted since the last VACUUM.
        self._vacuum_due = False

    def ibis(self) -> Any:
        if self._ibis is None:
            import ibis
            import psycopg

            libpq_url = self._url.set(drivername="postgresql").render_as_string(hide_password=False)
            # Analytics cut time into UTC days, weeks and months: pin the session's zone.
            # Their joins pair a customer's events with the same customer's (an equality
            # plus ranges): hash joins. Freshly loaded rows have no statistics yet, and the
            # planner, expecting one row, picks nested loops that take minutes instead of
            # milliseconds; analytics never want them, so this session does without.
            options = "-c TimeZone=UTC -c enable_nestloop=off"
            conn = psycopg.connect(libpq_url, autocommit=True, options=options)
            self._ibis = ibis.postgres.from_connection(conn)
        return self._ibis

    @contextmanager
    def load(self) -> Iterator[_PostgresLoad]:
        with self.engine.begin() as conn:
            yield _PostgresLoad(self, conn)

    def _lock_cursor(self, conn: Connection) -> Cursor:
        row = conn.execute(
            sa.text("SELECT txid, seq FROM load_state WHERE name = :name FOR UPDATE"),
            {"name": EVENTS_LOAD},
        ).one()
        return Cursor(txid=row.txid, seq=row.seq)

    def _insert_events(self, conn: Connection, columns: EventColumns) -> None:
        driver: Any = conn.connection.driver_connection  # psycopg, in this transaction
        clean = _without_nul(columns)
        rows = zip(*(clean[c] for c in EVENT_COLUMNS), strict=True)
        with driver.cursor() as cur, cur.copy(_COPY) as copy:
            for row in rows:
                copy.write_row(row)

    def _save_cursor(self, conn: Connection, cursor: Cursor) -> None:
        conn.execute(
            sa.text("UPDATE load_state SET txid = :txid, seq = :seq WHERE name = :name"),
            {"txid": cursor.txid, "seq": cursor.seq, "name": EVENTS_LOAD},
        )

    def cursor(self) -> Cursor:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.text("SELECT txid, seq FROM load_state WHERE name = :name"),
                {"name": EVENTS_LOAD},
            ).one()
        return Cursor(txid=row.txid, seq=row.seq)

    def delete_events(
        self, workspace_id: str, user_ids: Sequence[str], anonymous_ids: Sequence[str]
    ) -> int:
        with self.engine.begin() as conn:
            self._lock_cursor(conn)  # wait for a load in progress elsewhere
            deleted = conn.execute(
                sa.text(
                    """
                    DELETE FROM events
                    WHERE workspace_id = :ws
                      AND (user_id = ANY(CAST(:users AS text[]))
                           OR anonymous_id = ANY(CAST(:anon AS text[])))
                    """
                ),
                {"ws": workspace_id, "users": list(user_ids), "anon": list(anonymous_ids)},
            ).rowcount
        self._vacuum_due = self._vacuum_due or bool(deleted)
        return int(deleted)

    def compaction_due(self) -> bool:
        return self._vacuum_due

    def compact(self) -> None:
        """VACUUM the events table: deleted rows stay in its pages, readable from the files
        and by a superuser's tools, until a VACUUM prunes them (it cannot run inside a
        transaction). What PostgreSQL wrote before (WAL, replicas, backups) keeps them for
        as long as those are kept: see the deployment guide."""
        self._vacuum_due = False
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM events")

    def json_text(self, column: Any, path: Sequence[str]) -> Any:
        return _json_extract_path_text(column, tuple(path))

    def json_kind(self, column: Any, path: Sequence[str]) -> Any:
        import ibis

        typeof = ibis.udf.scalar.builtin(
            _typeof_stub, name="json_typeof", signature=(("json",), "string")
        )
        return typeof(_json_get(column, path))

    def json_raw(self, column: Any, path: Sequence[str]) -> Any:
        return _json_get(column, path).cast("string")

    def close(self) -> None:
        with self._query_lock:
            if self._ibis is not None:
                self._ibis.con.close()
                self._ibis = None
            self.engine.dispose()
