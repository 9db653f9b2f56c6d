"""The customers of a workspace, as Arrow tables to take into the warehouse.

Batch evaluation runs in the warehouse, but traits, identities and journey places live in
the state store. They are read here in bulk (one query each, its rows as one CSV text: a
COPY on PostgreSQL, ``group_concat`` on SQLite) and handed over as Arrow tables, which
Ibis turns into in-memory tables of the warehouse (DuckDB reads them in place; PostgreSQL
receives them as temporary tables).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import pyarrow as pa
import pyarrow.csv as csv
import sqlalchemy as sa

from wayline.store import schema
from wayline.store.sql import SqlStore


@dataclass(frozen=True, slots=True)
class Population:
    #: profile_id, traits (JSON text)
    profiles: pa.Table
    #: kind (user_id | anonymous_id), value, profile_id
    identities: pa.Table
    #: profile_id, journey_id, node: the journeys each customer is in now
    places: pa.Table


def _csv_sqlite(driver: Any, sql: str, width: int) -> bytes:
    # SQLite has no COPY: the rows are joined into one CSV text by SQLite itself
    fields = " || ',' || ".join(f"""'"' || replace(c{n}, '"', '""') || '"'""" for n in range(width))
    query = f"SELECT group_concat({fields}, char(10)) FROM ({sql}) AS q"
    cursor = driver.cursor()
    try:
        (text,) = cursor.execute(query).fetchone()
    finally:
        cursor.close()
    return (text or "").encode()


def _csv_postgres(driver: Any, sql: str, width: int) -> bytes:
    command = f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)"
    with driver.cursor() as cursor, cursor.copy(command) as copy:
        return b"".join(bytes(chunk) for chunk in copy)


#: Store dialect -> the query's rows as CSV, read by the driver in one piece.
_CSV: Final[dict[str, Callable[[Any, str, int], bytes]]] = {
    "sqlite": _csv_sqlite,
    "postgresql": _csv_postgres,
}


def _columns(conn: sa.Connection, query: sa.Select[Any], names: list[str]) -> pa.Table:
    """The rows of ``query`` as text columns. They travel as one CSV text that Arrow parses,
    so that a million rows never become a million Python tuples."""
    labelled = query.with_only_columns(
        *(c.label(f"c{n}") for n, c in enumerate(query.selected_columns))
    )
    sql = str(labelled.compile(conn.engine, compile_kwargs={"literal_binds": True}))
    data = _CSV[conn.engine.dialect.name](conn.connection.driver_connection, sql, len(names))
    types = {name: pa.string() for name in names}
    if not data:
        return pa.table({name: pa.array([], pa.string()) for name in names})
    return csv.read_csv(
        io.BytesIO(data),
        read_options=csv.ReadOptions(column_names=names),
        parse_options=csv.ParseOptions(newlines_in_values=True),
        convert_options=csv.ConvertOptions(column_types=types, quoted_strings_can_be_null=False),
    )


def read_population(
    store: SqlStore, workspace_id: str, *, traits: bool, journeys: bool
) -> Population:
    """Every customer of the workspace, with their traits (``{}`` when not asked for) and
    their places in journeys (when asked for)."""
    p, i, j = schema.profiles, schema.identities, schema.journey_instances
    with store.engine.connect() as conn:
        profiles = _columns(
            conn,
            sa.select(p.c.id, p.c.traits if traits else sa.literal("{}")).where(
                p.c.workspace_id == workspace_id
            ),
            ["profile_id", "traits"],
        )
        identities = _columns(
            conn,
            sa.select(i.c.kind, i.c.value, i.c.profile_id).where(
                i.c.workspace_id == workspace_id, i.c.kind.in_(["user_id", "anonymous_id"])
            ),
            ["kind", "value", "profile_id"],
        )
        query = sa.select(j.c.profile_id, j.c.journey_id, j.c.node).where(
            j.c.workspace_id == workspace_id, j.c.state != "done"
        )
        places = _columns(
            conn,
            query if journeys else query.where(sa.false()),
            ["profile_id", "journey_id", "node"],
        )
    return Population(profiles=profiles, identities=identities, places=places)
