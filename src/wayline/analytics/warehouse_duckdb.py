"""The embedded warehouse: one DuckDB file in the data dir.

DuckDB lets one process open a file for writing, so the warehouse keeps a single database
handle for the whole process. Within it, the loader writes through its own connection
(``cursor()`` of the handle) while analytics read through the Ibis one, so a long query
never holds up loading or erasure: DuckDB's MVCC keeps each reader on a consistent snapshot.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar, Final

import duckdb
import pyarrow as pa

from wayline.analytics.warehouse import (
    EVENT_COLUMNS,
    EVENTS_LOAD,
    EventColumns,
    Warehouse,
    WarehouseLocked,
)
from wayline.store.base import Cursor

_TIME = pa.timestamp("us", tz="UTC")


def _json_stub(j: Any, p: Any) -> Any: ...


def _json_extract_string(column: Any, path: str) -> Any:
    import ibis

    function = ibis.udf.scalar.builtin(
        _json_stub, name="json_extract_string", signature=(("json", "string"), "string")
    )
    return function(column, path)


def _json_type_stub(j: Any, p: Any) -> Any: ...
def _json_extract_stub(j: Any, p: Any) -> Any: ...


def _json_path_call(stub: Any, name: str, column: Any, path: str) -> Any:
    import ibis

    function = ibis.udf.scalar.builtin(stub, name=name, signature=(("json", "string"), "string"))
    return function(column, path)


#: The Arrow schema the loader's columns are given, matching the ``events`` table.
ARROW_SCHEMA: Final = pa.schema(
    [
        pa.field("workspace_id", pa.string(), nullable=False),
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("message_id", pa.string(), nullable=False),
        pa.field("type", pa.string(), nullable=False),
        pa.field("event", pa.string()),
        pa.field("user_id", pa.string()),
        pa.field("anonymous_id", pa.string()),
        pa.field("timestamp", _TIME, nullable=False),
        pa.field("received_at", _TIME, nullable=False),
        pa.field("properties", pa.string()),
        pa.field("context", pa.string()),
        pa.field("traits", pa.string()),
        pa.field("payload", pa.string(), nullable=False),
    ]
)

_DDL: Final = (
    """
    CREATE TABLE IF NOT EXISTS events (
        workspace_id VARCHAR NOT NULL,
        seq BIGINT NOT NULL,
        message_id VARCHAR NOT NULL,
        type VARCHAR NOT NULL,
        event VARCHAR,
        user_id VARCHAR,
        anonymous_id VARCHAR,
        timestamp TIMESTAMPTZ NOT NULL,
        received_at TIMESTAMPTZ NOT NULL,
        properties JSON,
        context JSON,
        traits JSON,
        payload JSON NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS load_state (
        name VARCHAR PRIMARY KEY,
        txid BIGINT NOT NULL,
        seq BIGINT NOT NULL
    )
    """,
    f"INSERT INTO load_state VALUES ('{EVENTS_LOAD}', 0, 0) ON CONFLICT DO NOTHING",
    #: A row named ``compact`` while deleted events may still be read from the file.
    """
    CREATE TABLE IF NOT EXISTS maintenance (
        name VARCHAR PRIMARY KEY,
        since TIMESTAMPTZ NOT NULL
    )
    """,
)
#: The file a compaction writes, beside the warehouse, until it takes the warehouse's place.
_COMPACT_SUFFIX: Final = ".compact"
_COMPACT_DUE: Final = "compact"
_COLUMN_LIST: Final = ", ".join(EVENT_COLUMNS)
_BATCH_VIEW: Final = "wayline_load_batch"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sync_directory(path: Path) -> None:
    """Make a rename in ``path`` durable (where the platform allows opening a directory)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _DuckDBLoad:
    def __init__(self, warehouse: DuckDBWarehouse, conn: duckdb.DuckDBPyConnection) -> None:
        self._warehouse = warehouse
        self._conn = conn
        self.cursor = warehouse._read_cursor(conn)

    def append(self, columns: EventColumns, cursor: Cursor) -> None:
        self._warehouse._insert_events(self._conn, pa.table(columns, schema=ARROW_SCHEMA))
        self._warehouse._save_cursor(self._conn, cursor)


class DuckDBWarehouse(Warehouse):
    dialect = "duckdb"
    json_kinds: ClassVar[Mapping[str, tuple[str, ...]]] = {
        "string": ("VARCHAR",),
        "number": ("BIGINT", "UBIGINT", "HUGEINT", "DOUBLE"),
        "boolean": ("BOOLEAN",),
        "null": ("NULL",),
        "array": ("ARRAY",),
        "object": ("OBJECT",),
    }

    def __init__(self, path: str) -> None:
        super().__init__()
        self._file = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            # a compaction cut off before its swap: the file it was writing is incomplete
            Path(path + _COMPACT_SUFFIX).unlink(missing_ok=True)
        self._write_lock = threading.Lock()
        #: Queries run by :meth:`run_sql` (outside the query lock), which a compaction
        #: waits for and holds off while it swaps the file.
        self._swap = threading.Condition()
        self._running = 0
        self._swapping = False
        self._ibis: Any = None
        self._open()
        # Arrow's first table imports its pandas bridge: 1 to 2 s holding the interpreter.
        # Paid here, at start, rather than by the first load, which would stall every
        # other loop of the process just as the first events arrive.
        pa.table({f.name: [] for f in ARROW_SCHEMA}, schema=ARROW_SCHEMA)

    def _open(self) -> None:
        try:
            self._db = duckdb.connect(self._file)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise WarehouseLocked(
                    f"the warehouse {self._file} is in use by another process "
                    "(is `wayline serve` running?)"
                ) from None
            raise
        #: The loader's own connection; the loader serialises its use.
        self._writer = self._db.cursor()
        for statement in _DDL:
            self._writer.execute(statement).fetchall()
        if self._ibis is not None:
            # the same Ibis backend on the new handle: expressions built before stay valid
            self._db.execute("SET TimeZone = 'UTC'")
            self._ibis.con = self._db
            self._ibis._post_connect()

    def ibis(self) -> Any:
        if self._ibis is None:
            import ibis

            # Analytics cut time into UTC days, weeks and months: pin the session's zone
            # (DuckDB's default is the machine's).
            self._db.execute("SET TimeZone = 'UTC'")
            self._ibis = ibis.duckdb.from_connection(self._db)
        return self._ibis

    def stream(self, expr: Any, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        # Ibis's batch reader calls a DuckDB method that DuckDB 2 no longer has; DuckDB's
        # own reader over the compiled query streams the same rows.
        with self._query_lock:
            backend = self.ibis()
            # what Ibis does before it runs a query: register the in-memory tables (a
            # segment breakdown's members) that the expression reads
            backend._run_pre_execute_hooks(expr)
            sql = backend.compile(expr)
            yield from self._db.sql(sql).to_arrow_reader(batch_rows)

    def run_sql(self, sql: str, tables: Mapping[str, pa.Table]) -> pa.Table:
        """Run a compiled query on a connection of its own, with ``tables`` (the in-memory
        tables it reads) registered for its length."""
        with self._swap:
            self._swap.wait_for(lambda: not self._swapping)
            self._running += 1
        try:
            conn = self._db.cursor()
        except BaseException:
            self._done_running()
            raise
        try:
            conn.execute("SET TimeZone = 'UTC'")
            for name, table in tables.items():
                conn.register(name, table)
            result: pa.Table = conn.sql(sql).to_arrow_table()
            return result
        finally:
            conn.close()
            self._done_running()

    def _done_running(self) -> None:
        with self._swap:
            self._running -= 1
            self._swap.notify_all()

    @contextmanager
    def load(self) -> Iterator[_DuckDBLoad]:
        with self._write_lock:
            conn = self._writer
            conn.begin()
            try:
                yield _DuckDBLoad(self, conn)
            except BaseException:
                conn.rollback()
                raise
            conn.commit()

    def _read_cursor(self, conn: duckdb.DuckDBPyConnection) -> Cursor:
        # DuckDB wants every result read to its end before the connection does more.
        ((txid, seq),) = conn.execute(
            "SELECT txid, seq FROM load_state WHERE name = ?", [EVENTS_LOAD]
        ).fetchall()
        return Cursor(txid=txid, seq=seq)

    def _insert_events(self, conn: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
        # Arrow in, one vectorised INSERT out: row-at-a-time inserts are orders slower.
        conn.register(_BATCH_VIEW, rows)
        try:
            conn.execute(
                f"INSERT INTO events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM {_BATCH_VIEW}"
            ).fetchall()
        finally:
            conn.unregister(_BATCH_VIEW)

    def _save_cursor(self, conn: duckdb.DuckDBPyConnection, cursor: Cursor) -> None:
        conn.execute(
            "UPDATE load_state SET txid = ?, seq = ? WHERE name = ?",
            [cursor.txid, cursor.seq, EVENTS_LOAD],
        ).fetchall()

    def cursor(self) -> Cursor:
        with self._write_lock:
            return self._read_cursor(self._writer)

    def delete_events(
        self, workspace_id: str, user_ids: Sequence[str], anonymous_ids: Sequence[str]
    ) -> int:
        with self._write_lock:
            conn = self._writer
            conn.begin()
            try:
                ((deleted,),) = conn.execute(
                    """
                    DELETE FROM events
                    WHERE workspace_id = $ws
                      AND (list_contains($users::VARCHAR[], user_id)
                           OR list_contains($anon::VARCHAR[], anonymous_id))
                    """,
                    {"ws": workspace_id, "users": list(user_ids), "anon": list(anonymous_ids)},
                ).fetchall()
                if deleted:
                    conn.execute(
                        "INSERT INTO maintenance VALUES (?, now()) ON CONFLICT DO NOTHING",
                        [_COMPACT_DUE],
                    ).fetchall()
            except BaseException:
                conn.rollback()
                raise
            conn.commit()
        return int(deleted)

    def compaction_due(self) -> bool:
        with self._write_lock:
            return bool(
                self._writer.execute(
                    "SELECT count(*) FROM maintenance WHERE name = ?", [_COMPACT_DUE]
                ).fetchall()[0][0]
            )

    def compact(self) -> None:
        """Copy the live rows to a fresh file and put it in the warehouse's place.

        DuckDB marks the blocks of deleted rows free and reuses them later, but never
        overwrites them: an erased customer's values could be read from the file with a
        hex editor until then, and a CHECKPOINT or VACUUM changes nothing. A fresh file
        holds only what is live. The swap is an atomic rename made while this process
        holds the warehouse (loads and queries wait); a crash before it leaves the old file
        whole, still marked due, and the next start removes the half-written copy.
        """
        if self._file == ":memory:":
            with self._write_lock:
                self._writer.execute("DELETE FROM maintenance").fetchall()
            return
        fresh = self._file + _COMPACT_SUFFIX
        with self._write_lock, self._query_lock, self._swapped():
            Path(fresh).unlink(missing_ok=True)
            conn = self._writer
            ((name,),) = conn.execute("SELECT current_database()").fetchall()
            conn.execute("CHECKPOINT").fetchall()
            conn.execute(f"ATTACH {_literal(fresh)} AS wayline_compact").fetchall()
            try:
                conn.execute(f"COPY FROM DATABASE {_ident(name)} TO wayline_compact").fetchall()
                conn.execute(
                    "DELETE FROM wayline_compact.maintenance WHERE name = ?", [_COMPACT_DUE]
                ).fetchall()
            finally:
                conn.execute("DETACH wayline_compact").fetchall()
            self._writer.close()
            self._db.close()
            os.replace(fresh, self._file)
            _sync_directory(Path(self._file).parent)
            self._open()

    @contextmanager
    def _swapped(self) -> Iterator[None]:
        """Hold off new :meth:`run_sql` queries and wait for those running to end."""
        with self._swap:
            self._swapping = True
            self._swap.wait_for(lambda: self._running == 0)
        try:
            yield
        finally:
            with self._swap:
                self._swapping = False
                self._swap.notify_all()

    def json_text(self, column: Any, path: Sequence[str]) -> Any:
        quoted = ".".join('"' + p.replace('"', '\\"') + '"' for p in path)
        return _json_extract_string(column, f"$.{quoted}")

    def _path(self, path: Sequence[str]) -> str:
        return "$" + "".join('."' + p.replace('"', '\\"') + '"' for p in path)

    def json_kind(self, column: Any, path: Sequence[str]) -> Any:
        return _json_path_call(_json_type_stub, "json_type", column, self._path(path))

    def json_raw(self, column: Any, path: Sequence[str]) -> Any:
        if not path:
            return column.cast("string")
        return _json_path_call(_json_extract_stub, "json_extract", column, self._path(path))

    def close(self) -> None:
        with self._write_lock, self._query_lock:
            self._writer.close()
            self._db.close()
