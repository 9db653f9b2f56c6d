"""What operators watch in the state store: the store answers, consumers keep up, the outbox
and the journeys' customers by state. Read by ``/metrics`` and ``/ready``; every query here
is a count over an index or a handful of rows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from wayline.store import schema
from wayline.store.base import Cursor
from wayline.store.sql import SqlStore


@dataclass(frozen=True, kw_only=True, slots=True)
class Lag:
    """How far a consumer is behind the inbox."""

    #: Inbox rows after its cursor.
    events: int
    #: Age of the oldest of those rows (0 when there are none).
    seconds: float


class Operations:
    """Operational figures of one state store."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def ping(self) -> None:
        """Raises when the store cannot answer a query."""
        with self.store.engine.connect() as conn:
            conn.execute(sa.select(sa.literal(1)))

    def cursors(self) -> dict[str, Cursor]:
        """Each inbox consumer's position, by consumer name."""
        t = schema.consumer_cursors
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.name, t.c.txid, t.c.seq)).all()
        return {row.name: Cursor(txid=row.txid, seq=row.seq) for row in rows}

    def lag(self, cursor: Cursor, now: datetime) -> Lag:
        """How far a consumer at ``cursor`` is behind."""
        t = schema.inbox
        after = sa.tuple_(sa.func.coalesce(t.c.txid, 0), t.c.seq) > sa.tuple_(
            cursor.txid, cursor.seq
        )
        with self.store.engine.connect() as conn:
            count, oldest = conn.execute(
                sa.select(sa.func.count(), sa.func.min(t.c.received_at)).where(after)
            ).one()
        if not count or oldest is None:
            return Lag(events=0, seconds=0.0)
        return Lag(events=int(count), seconds=max(0.0, (now - oldest).total_seconds()))

    def dead_letters(self) -> dict[str, int]:
        """Parked dead letters by consumer."""
        from wayline.store.dead_letters import DeadLetterStore

        return DeadLetterStore(self.store).parked()

    def outbox_depth(self) -> dict[str, int]:
        """Outbox messages by state (pending, sending, sent, dead, dropped)."""
        return self._count_by_state(schema.outbox)

    def instances(self) -> dict[str, int]:
        """Journey instances by state (ready, waiting, done)."""
        return self._count_by_state(schema.journey_instances)

    def _count_by_state(self, table: sa.Table) -> dict[str, int]:
        state = table.c.state
        with self.store.engine.connect() as conn:
            rows = conn.execute(sa.select(state, sa.func.count()).group_by(state)).all()
        return {row[0]: int(row[1]) for row in rows}
