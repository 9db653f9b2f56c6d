"""Change logs that wait to be announced (segment changes, stage changes): a row stays
``pending`` until its event has been appended to the inbox, and is read in order of ``id``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store.sql import SqlStore

T = TypeVar("T")


def pending(conn: Connection, table: sa.Table, limit: int, make: Callable[..., T]) -> list[T]:
    """The oldest ``limit`` pending rows, each made into ``make`` (a dataclass whose fields
    are columns of the table)."""
    names = [f.name for f in dataclasses.fields(make)]  # type: ignore[arg-type]
    rows = conn.execute(
        sa.select(table).where(table.c.pending.is_(True)).order_by(table.c.id).limit(limit)
    )
    return [make(**{n: getattr(r, n) for n in names}) for r in rows]


def mark_sent(store: SqlStore, table: sa.Table, ids: Sequence[Any]) -> None:
    """These rows' events are in the inbox."""
    with store._write() as conn:
        conn.execute(sa.update(table).where(table.c.id.in_(list(ids))).values(pending=False))
