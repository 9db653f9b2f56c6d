"""Reports while the embedded server runs.

DuckDB lets one process at a time open a file, and a running ``wayline serve`` holds the
embedded warehouse. So the server leaves a note beside the warehouse file
(``warehouse.server.json``: its URL, its process id and a token made at start, readable by
the file's owner only), and a report that finds the warehouse held sends its queries to the
server instead. Analyses are built as Ibis expressions over an empty in-memory warehouse of
the same schema, compiled to SQL here and run by the server on its own warehouse: the
numbers are the server's, exactly as its API would give them. The token grants nothing that
reading the data dir does not: whoever can read it can open the warehouse file when the
server is stopped.
"""

from __future__ import annotations

import base64
import hmac
import io
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import orjson
import pyarrow as pa

from wayline.analytics.warehouse import WarehouseLocked
from wayline.analytics.warehouse_duckdb import DuckDBWarehouse
from wayline.errors import WaylineError
from wayline.store.base import Cursor

#: What the note a running server leaves beside its warehouse file ends with.
NOTE_SUFFIX: Final = ".server.json"
#: The media type of an Arrow IPC stream.
ARROW_STREAM: Final = "application/vnd.apache.arrow.stream"


class NotAQuery(WaylineError):
    """Only a single read-only query can be run through the server."""


@dataclass(frozen=True, kw_only=True)
class ServerNote:
    """What a running server tells the reports of its data dir."""

    url: str
    pid: int
    token: str

    @classmethod
    def create(cls, url: str) -> ServerNote:
        return cls(url=url, pid=os.getpid(), token=secrets.token_urlsafe(32))

    def write(self, path: Path) -> None:
        """Write the note, readable and writable by its owner only."""
        temporary = path.with_suffix(".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(orjson.dumps(asdict(self)))
        os.replace(temporary, path)

    @classmethod
    def read(cls, path: Path) -> ServerNote | None:
        """The note of a server that is still running, or ``None``."""
        try:
            raw = orjson.loads(path.read_bytes())
            note = cls(url=str(raw["url"]), pid=int(raw["pid"]), token=str(raw["token"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return note if _alive(note.pid) else None

    def remove(self, path: Path) -> None:
        """Remove the note if it is still this server's."""
        if ServerNote.read(path) == self:
            path.unlink(missing_ok=True)

    def admits(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.token)


def note_path(warehouse_file: str | Path) -> Path:
    """Where the server holding ``warehouse_file`` leaves its note."""
    path = Path(warehouse_file)
    return path.with_name(path.stem + NOTE_SUFFIX)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def check_query(sql: str) -> None:
    """Refuse anything but one read-only query (a SELECT, possibly with CTEs or set
    operations)."""
    import sqlglot
    from sqlglot import expressions as exp

    try:
        statements = [s for s in sqlglot.parse(sql, dialect="duckdb") if s is not None]
    except sqlglot.errors.ParseError as exc:
        raise NotAQuery(f"not a query: {str(exc).splitlines()[0]}") from None
    if len(statements) != 1 or not isinstance(statements[0], exp.Query):
        raise NotAQuery("only one SELECT query is allowed")
    writes = (exp.Insert, exp.Update, exp.Delete, exp.Create, exp.Drop, exp.Alter, exp.Command)
    if any(statements[0].find_all(*writes)):
        raise NotAQuery("only read-only queries are allowed")


def run_query(warehouse: DuckDBWarehouse, sql: str, tables: Mapping[str, pa.Table]) -> pa.Table:
    """Run a compiled report query on the server's own warehouse, with the in-memory tables
    it reads (a segment's members) registered for the length of the query."""
    check_query(sql)
    return warehouse.run_sql(sql, tables)


def encode_table(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def decode_table(data: bytes) -> pa.Table:
    with pa.ipc.open_stream(data) as reader:
        return reader.read_all()


class RemoteWarehouse(DuckDBWarehouse):
    """The warehouse of a running server, for reading: expressions are built here over an
    empty in-memory copy of the schema and run by the server."""

    def __init__(self, note: ServerNote, timeout: float = 600.0) -> None:
        super().__init__(":memory:")
        import httpx

        self.note = note
        self._http = httpx.Client(
            base_url=note.url,
            headers={"Authorization": f"Bearer {note.token}"},
            timeout=timeout,
        )

    def execute(self, expr: Any) -> pa.Table:
        from ibis.expr import operations as ops

        with self._query_lock:
            sql = self.ibis().compile(expr)
            tables = {
                op.name: base64.b64encode(encode_table(op.data.to_pyarrow(op.schema))).decode()
                for op in expr.op().find(ops.InMemoryTable)
            }
        response = self._http.post("/api/v1/warehouse/query", json={"sql": sql, "tables": tables})
        if response.status_code != 200:
            try:
                message = response.json().get("error", response.text)
            except ValueError:
                message = response.text
            raise WarehouseLocked(
                f"the running server at {self.note.url} could not run the report: {message}"
            )
        return decode_table(response.content)

    def stream(self, expr: Any, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        yield from self.execute(expr).to_batches(max_chunksize=batch_rows)

    def load(self) -> Any:
        raise WarehouseLocked("the warehouse is the running server's: it loads it itself")

    def delete_events(
        self, workspace_id: str, user_ids: Sequence[str], anonymous_ids: Sequence[str]
    ) -> int:
        raise WarehouseLocked("the warehouse is the running server's: it erases itself")

    def cursor(self) -> Cursor:
        raise WarehouseLocked("the warehouse is the running server's")

    def close(self) -> None:
        self._http.close()
        super().close()


def open_through_server(warehouse_file: str, locked: WarehouseLocked) -> RemoteWarehouse:
    """The running server's warehouse, or ``locked`` again when no server left a note."""
    note = ServerNote.read(note_path(warehouse_file))
    if note is None:
        raise locked
    return RemoteWarehouse(note)
