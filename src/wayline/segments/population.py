"""The customers of a workspace, as Arrow tables to take into the warehouse.

Batch evaluation runs in the warehouse, but traits, identities and journey places live in
the state store. They are read here in bulk (one plain query each, rows as tuples, no
per-row objects) and handed over as Arrow tables, which Ibis turns into in-memory tables of
the warehouse (DuckDB reads them in place; PostgreSQL receives them as temporary tables).
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa
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


def _columns(conn: sa.Connection, query: sa.Select[tuple[str, ...]], names: list[str]) -> pa.Table:
    rows = conn.execute(query).all()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    return pa.table(
        {name: pa.array(list(values), pa.string()) for name, values in zip(names, columns, strict=True)}
    )


def read_population(store: SqlStore, workspace_id: str, *, journeys: bool) -> Population:
    """Every customer of the workspace (and their places in journeys, when asked)."""
    p, i, j = schema.profiles, schema.identities, schema.journey_instances
    with store.engine.connect() as conn:
        profiles = _columns(
            conn,
            sa.select(p.c.id, p.c.traits).where(p.c.workspace_id == workspace_id),
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
