"""The analytics warehouse: where inbox events land for analysis, and how analytics reach it.

A DuckDB file in the data dir by default, PostgreSQL when ``WAYLINE_WAREHOUSE_URL`` names
one. :func:`open_warehouse` picks the backend from the URL; everything that differs between
the two lives in ``warehouse_duckdb.py`` and ``warehouse_postgres.py``.

Two kinds of callers share a warehouse:

* the loader writes through :meth:`Warehouse.load` (rows and the loader's cursor in one
  transaction) and :meth:`Warehouse.delete_events` (erasure);
* analytics build Ibis expressions over :meth:`Warehouse.table` and run them with
  :meth:`Warehouse.execute`, once, for both backends.

The warehouse's tables and their column names are persisted: a name chosen here is forever.
They follow Segment's warehouse schema where it has one (``user_id``, ``anonymous_id``,
``event``, ``timestamp``, ``received_at``, snake case throughout); ``message_id`` is
Segment's ``id``, named for what it holds.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Final, Protocol

from wayline.errors import ConfigurationError, WaylineError
from wayline.settings import Settings
from wayline.store.base import Cursor

if TYPE_CHECKING:
    import pyarrow as pa

#: The columns of the ``events`` table, in table order.
EVENT_COLUMNS: Final = (
    "workspace_id",
    "seq",
    "message_id",
    "type",
    "event",
    "user_id",
    "anonymous_id",
    "timestamp",
    "received_at",
    "properties",
    "context",
    "traits",
    "payload",
)

#: The name of the loader's row in the ``load_state`` table.
EVENTS_LOAD: Final = "events"

#: Column name -> one value per event, in :data:`EVENT_COLUMNS` order. Columns rather than
#: rows, because both backends load fastest from columns (an Arrow table, a COPY stream).
EventColumns = dict[str, list[Any]]


class WarehouseLocked(WaylineError):
    """The warehouse is in use by another process."""


class LoadBatch(Protocol):
    """One open load transaction: nothing it writes is visible until it commits."""

    #: Where the loader stopped last time (read inside the transaction).
    @property
    def cursor(self) -> Cursor: ...

    def append(self, columns: EventColumns, cursor: Cursor) -> None:
        """Add these events and move the loader's cursor to ``cursor``, in this transaction."""
        ...


class Warehouse(ABC):
    """An analytics warehouse; a backend subclass supplies the storage and the Ibis backend.

    Analytics must run through :meth:`execute`: the Ibis backend holds one connection, and
    API threads, the CLI and the loader's process share it.
    """

    #: duckdb | postgresql
    dialect: str = ""
    #: A JSON type (``string``, ``number``, ``boolean``, ``null``, ``array``, ``object``)
    #: -> how :meth:`json_kind` spells it on this backend.
    json_kinds: ClassVar[Mapping[str, tuple[str, ...]]] = {
        kind: (kind,) for kind in ("string", "number", "boolean", "null", "array", "object")
    }

    def __init__(self) -> None:
        self._query_lock = threading.Lock()
        self._tables: dict[str, Any] = {}

    @abstractmethod
    def ibis(self) -> Any:
        """The Ibis backend over the warehouse (for notebooks; not safe across threads)."""

    @abstractmethod
    def load(self) -> AbstractContextManager[LoadBatch]:
        """A load transaction, holding the loader's cursor so that no other loader takes
        the same slice of the inbox. Commits when the block ends, rolls back on error."""

    @abstractmethod
    def delete_events(
        self, workspace_id: str, user_ids: Sequence[str], anonymous_ids: Sequence[str]
    ) -> int:
        """Delete a workspace's events carrying any of these ids; returns how many went."""

    def compaction_due(self) -> bool:
        """Whether deleted events may still be read from the warehouse's storage."""
        return False

    def compact(self) -> None:  # noqa: B027 - a backend without leftovers has nothing to do
        """Make the values of deleted events unrecoverable from the warehouse's storage
        (rewriting it, or vacuuming it); the loader calls it, batched, after erasures."""

    @abstractmethod
    def cursor(self) -> Cursor:
        """Where the loader has got to (as last committed)."""

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def json_text(self, column: Any, path: Sequence[str]) -> Any:
        """An Ibis string expression: the value at ``path`` inside a JSON column, as text
        (numbers and booleans as their JSON text), or null where there is none.

        Each backend spells JSON access its own way, and Ibis's portable JSON unwrapping
        does not compile for PostgreSQL's ``json`` type, so the backend supplies it."""

    @abstractmethod
    def json_kind(self, column: Any, path: Sequence[str]) -> Any:
        """An Ibis string expression: the JSON type of the value at ``path`` inside a JSON
        column, as the backend names it (:attr:`json_kinds`), or null where there is no
        value. What comparisons without type coercion need."""

    @abstractmethod
    def json_raw(self, column: Any, path: Sequence[str]) -> Any:
        """An Ibis string expression: the value at ``path`` as JSON text, or null where
        there is none (an empty ``path``: the whole column as text)."""

    def table(self, name: str = "events") -> Any:
        """An Ibis table expression over a warehouse table, to build analytics on."""
        with self._query_lock:
            if name not in self._tables:
                self._tables[name] = self.ibis().table(name)
            return self._tables[name]

    def stream(self, expr: Any, batch_rows: int = 65_536) -> Iterator[pa.RecordBatch]:
        """Run an Ibis expression and yield its result in Arrow batches, for results too
        long to hold (a list of customers). The warehouse serves no other query until the
        iteration ends: consume it promptly and to the end (or close it)."""
        with self._query_lock:
            yield from self.ibis().to_pyarrow_batches(expr, chunk_size=batch_rows)

    def execute(self, expr: Any) -> pa.Table:
        """Run an Ibis expression built on :meth:`table`; the result as an Arrow table."""
        with self._query_lock:
            result: pa.Table = self.ibis().to_pyarrow(expr)
            return result


def open_warehouse(settings: Settings, *, writer: bool = False) -> Warehouse:
    """The warehouse the URL names: ``duckdb:///path`` or ``postgresql://…``.

    DuckDB lets one process at a time open a file. When another process holds it, a reader
    (``writer=False``: reports) reaches it through the ``wayline serve`` holding it (see
    :mod:`wayline.analytics.remote`); a writer, or a reader when no server left its note,
    gets :class:`WarehouseLocked`.
    """
    url = settings.resolved_warehouse_url()
    if url.startswith("duckdb:"):
        from wayline.analytics.warehouse_duckdb import DuckDBWarehouse

        path = url.removeprefix("duckdb:").removeprefix("///")
        try:
            return DuckDBWarehouse(path)
        except WarehouseLocked as locked:
            if writer:
                raise
            from wayline.analytics.remote import open_through_server

            return open_through_server(path, locked)
    if url.startswith(("postgresql", "postgres:")):
        from wayline.analytics.warehouse_postgres import PostgresWarehouse

        return PostgresWarehouse(url)
    raise ConfigurationError(
        f"WAYLINE_WAREHOUSE_URL: unsupported warehouse {url.split(':')[0]!r}; "
        "expected duckdb:///path or postgresql://…"
    )


__all__ = [
    "EVENT_COLUMNS",
    "EventColumns",
    "LoadBatch",
    "Warehouse",
    "WarehouseLocked",
    "open_warehouse",
]
