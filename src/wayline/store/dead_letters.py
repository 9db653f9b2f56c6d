"""Dead letters: inbox rows a consumer could not process, set aside with their error.

A consumer that fails on one row a bounded number of times parks it (see
:mod:`wayline.runtime`): the dead letter is written in the transaction that moves the
consumer's cursor past the row, so the rows after it flow on. An operator asks for a retry;
the consumer then applies the row alone, outside its cursor, and the letter goes on success
or is parked again with the new error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.base import Cursor, InboxEvent
from wayline.store.rows import inbox_event
from wayline.store.sql import PROFILES_CONSUMER, SqlStore


class LetterState(StrEnum):
    #: Set aside; the consumer passed it.
    PARKED = "parked"
    #: An operator asked for another try: the consumer takes it at its next step.
    RETRY = "retry"


@dataclass(frozen=True, kw_only=True, slots=True)
class DeadLetter:
    id: int
    consumer: str
    workspace_id: str
    seq: int
    txid: int
    message_id: str
    error: str
    attempts: int
    state: LetterState
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: Any) -> DeadLetter:
        return cls(
            id=row.id,
            consumer=row.consumer,
            workspace_id=row.workspace_id,
            seq=row.seq,
            txid=row.txid,
            message_id=row.message_id,
            error=row.error,
            attempts=row.attempts,
            state=LetterState(row.state),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "consumer": self.consumer,
            "workspace_id": self.workspace_id,
            "seq": self.seq,
            "txid": self.txid,
            "message_id": self.message_id,
            "error": self.error,
            "attempts": self.attempts,
            "state": self.state.value,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class DeadLetterStore:
    """The dead letters of one state store."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    # -- consumers ---------------------------------------------------------------------

    def add(
        self, conn: Connection, consumer: str, event: InboxEvent, error: str, attempts: int
    ) -> None:
        """Record ``event`` as parked by ``consumer``; recording it again updates it."""
        now = self.store.clock.now()
        stmt = self.store._insert(schema.dead_letters).values(
            consumer=consumer,
            workspace_id=event.workspace_id,
            seq=event.seq,
            txid=event.txid,
            message_id=event.message_id,
            error=error,
            attempts=attempts,
            state=LetterState.PARKED.value,
            created_at=now,
            updated_at=now,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["consumer", "seq"],
                set_={
                    "error": stmt.excluded.error,
                    "attempts": stmt.excluded.attempts,
                    "state": stmt.excluded.state,
                    "updated_at": stmt.excluded.updated_at,
                },
            )
        )

    def park_next(self, consumer: str, error: str, attempts: int, *, downstream: bool) -> bool:
        """Park the row after ``consumer``'s cursor and move the cursor past it, in one
        transaction (never past the profile consumer's for a ``downstream`` consumer).
        False when there is no such row."""
        store = self.store
        with store._write() as conn:
            cursor = store._lock_cursor(conn, consumer)
            ceiling = store._cursor(conn, PROFILES_CONSUMER) if downstream else None
            if ceiling is not None and not cursor < ceiling:
                return False
            events = store._read_inbox(conn, cursor, 1)
            if not events or (ceiling is not None and not events[0].cursor <= ceiling):
                return False
            self.add(conn, consumer, events[0], error, attempts)
            store._set_cursor(conn, consumer, cursor, events[0].cursor)
        return True

    def record(self, consumer: str, event: InboxEvent, error: str, attempts: int) -> None:
        """Record a dead letter in a transaction of its own (a consumer whose cursor lives
        elsewhere moves it there)."""
        with self.store._write() as conn:
            self.add(conn, consumer, event, error, attempts)

    def next_row(self, after: Cursor) -> InboxEvent | None:
        events = self.store.read_inbox(after, 1)
        return events[0] if events else None

    def due(self, consumer: str, limit: int = 100) -> list[DeadLetter]:
        """The letters of ``consumer`` waiting for another try, oldest first."""
        t = schema.dead_letters
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t)
                .where(t.c.consumer == consumer, t.c.state == LetterState.RETRY.value)
                .order_by(t.c.seq)
                .limit(limit)
            ).all()
        return [DeadLetter.from_row(r) for r in rows]

    def event(self, letter: DeadLetter) -> InboxEvent | None:
        """The inbox row of a letter (None once erased)."""
        t = schema.inbox
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.seq == letter.seq)).first()
        return None if row is None else inbox_event(row)

    def resolved(self, letter_id: int) -> None:
        with self.store._write() as conn:
            conn.execute(
                sa.delete(schema.dead_letters).where(schema.dead_letters.c.id == letter_id)
            )

    def failed(self, letter_id: int, error: str) -> None:
        t = schema.dead_letters
        with self.store._write() as conn:
            conn.execute(
                sa.update(t)
                .where(t.c.id == letter_id)
                .values(
                    state=LetterState.PARKED.value,
                    attempts=t.c.attempts + 1,
                    error=error,
                    updated_at=self.store.clock.now(),
                )
            )

    # -- operators ---------------------------------------------------------------------

    def listing(
        self, workspace_id: str | None = None, consumer: str | None = None, limit: int = 1000
    ) -> list[DeadLetter]:
        t = schema.dead_letters
        query = sa.select(t).order_by(t.c.id).limit(limit)
        if workspace_id is not None:
            query = query.where(t.c.workspace_id == workspace_id)
        if consumer is not None:
            query = query.where(t.c.consumer == consumer)
        with self.store.engine.connect() as conn:
            return [DeadLetter.from_row(r) for r in conn.execute(query)]

    def get(self, letter_id: int, workspace_id: str | None = None) -> DeadLetter | None:
        t = schema.dead_letters
        query = sa.select(t).where(t.c.id == letter_id)
        if workspace_id is not None:
            query = query.where(t.c.workspace_id == workspace_id)
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        return None if row is None else DeadLetter.from_row(row)

    def retry(self, ids: Sequence[int] | None, workspace_id: str | None = None) -> int:
        """Ask for another try of these parked letters (None: all); returns how many."""
        t = schema.dead_letters
        query = sa.update(t).where(t.c.state == LetterState.PARKED.value)
        query = self._only(query, ids, workspace_id)
        with self.store._write() as conn:
            return int(
                conn.execute(
                    query.values(state=LetterState.RETRY.value, updated_at=self.store.clock.now())
                ).rowcount
            )

    def drop(self, ids: Sequence[int] | None, workspace_id: str | None = None) -> int:
        """Forget these letters (None: all); their rows stay unprocessed. Returns how many."""
        query = self._only(sa.delete(schema.dead_letters), ids, workspace_id)
        with self.store._write() as conn:
            return int(conn.execute(query).rowcount)

    @staticmethod
    def _only(query: Any, ids: Sequence[int] | None, workspace_id: str | None) -> Any:
        t = schema.dead_letters
        if ids is not None:
            query = query.where(t.c.id.in_(list(ids)))
        if workspace_id is not None:
            query = query.where(t.c.workspace_id == workspace_id)
        return query

    def parked(self) -> dict[str, int]:
        """Parked letters by consumer."""
        t = schema.dead_letters
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.consumer, sa.func.count())
                .where(t.c.state == LetterState.PARKED.value)
                .group_by(t.c.consumer)
            ).all()
        return {row[0]: int(row[1]) for row in rows}
