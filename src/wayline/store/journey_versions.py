"""Versions of a journey and the customers inside each, for plans and migrations.

Functions over the caller's connection, so that ``apply --migrate`` reads, stores the new
version and moves customers in one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.journeys import Instance, InstanceState

#: Ids per ``IN (…)`` list: well under every backend's limit on bound parameters.
CHUNK = 500


@dataclass(frozen=True, kw_only=True, slots=True)
class VersionRecord:
    version: int
    created_at: datetime
    digest: str
    spec: dict[str, Any]

    @classmethod
    def from_row(cls, row: Any) -> VersionRecord:
        return cls(
            version=int(row.version),
            created_at=row.created_at,
            digest=row.digest,
            spec=orjson.loads(row.spec),
        )


def versions(conn: Connection, workspace_id: str, journey_id: str) -> list[VersionRecord]:
    """Every stored version of the journey, oldest first."""
    v = schema.journey_versions
    rows = conn.execute(
        sa.select(v)
        .where(v.c.workspace_id == workspace_id, v.c.journey_id == journey_id)
        .order_by(v.c.version)
    )
    return [VersionRecord.from_row(r) for r in rows]


def occupancy(conn: Connection, workspace_id: str, journey_id: str) -> dict[tuple[int, str], int]:
    """(version, node) -> how many customers are inside there now (not done)."""
    i = schema.journey_instances
    rows = conn.execute(
        sa.select(i.c.version, i.c.node, sa.func.count())
        .where(
            i.c.workspace_id == workspace_id,
            i.c.journey_id == journey_id,
            i.c.state != InstanceState.DONE.value,
        )
        .group_by(i.c.version, i.c.node)
    )
    return {(int(v), str(node)): int(n) for v, node, n in rows}


def lock_inside(conn: Connection, workspace_id: str, journey_id: str, below: int) -> list[Instance]:
    """The customers inside versions older than ``below``, locked until the transaction
    ends (a worker holding one is waited for, then its saved row is read)."""
    i = schema.journey_instances
    rows = conn.execute(
        sa.select(i)
        .where(
            i.c.workspace_id == workspace_id,
            i.c.journey_id == journey_id,
            i.c.version < below,
            i.c.state != InstanceState.DONE.value,
        )
        .order_by(i.c.id)
        .with_for_update()
    )
    return [Instance.from_row(r) for r in rows]


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for start in range(0, len(ids), CHUNK):
        yield list(ids[start : start + CHUNK])


def set_version(conn: Connection, ids: Sequence[int], version: int, now: datetime) -> None:
    """Move instances to another version, keeping their node, state, wake time and waits."""
    i = schema.journey_instances
    for chunk in _chunks(ids):
        conn.execute(sa.update(i).where(i.c.id.in_(chunk)).values(version=version, updated_at=now))


def place(conn: Connection, instances: Sequence[Instance], now: datetime) -> None:
    """Save instances' version, node, state, wake time and context in one statement."""
    if not instances:
        return
    i = schema.journey_instances
    stmt = (
        sa.update(i)
        .where(i.c.id == sa.bindparam("_id"))
        .values(
            version=sa.bindparam("_version"),
            node=sa.bindparam("_node"),
            state=sa.bindparam("_state"),
            wake_at=sa.bindparam("_wake_at"),
            context=sa.bindparam("_context"),
            updated_at=sa.bindparam("_updated_at"),
        )
    )
    conn.execute(
        stmt,
        [
            {
                "_id": x.id,
                "_version": x.version,
                "_node": x.node,
                "_state": x.state.value,
                "_wake_at": x.wake_at,
                "_context": orjson.dumps(x.context).decode(),
                "_updated_at": now,
            }
            for x in instances
        ],
    )


def drop_waits(conn: Connection, ids: Sequence[int], kind: str) -> None:
    w = schema.journey_waits
    for chunk in _chunks(ids):
        conn.execute(sa.delete(w).where(w.c.instance_id.in_(chunk), w.c.kind == kind))
