"""The outbox: messages the journeys decided to send, until a dispatcher has delivered them.

The journey worker adds rows in the transaction that advances an instance; dispatchers claim
due rows in short transactions, deliver them with no transaction open (SQLite has a single
writer, and ingestion must not wait for a slow webhook), then record the outcome in another
short transaction. A claim is a lease: a dispatcher that dies mid-delivery leaves its rows
``sending`` until ``next_attempt_at``, when any dispatcher takes them again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.base import Store
from wayline.store.sql import SqlStore


class OutboxState(StrEnum):
    #: Waiting to be delivered, not before ``next_attempt_at``.
    PENDING = "pending"
    #: Claimed by a dispatcher until ``next_attempt_at``; after that, any dispatcher may retry.
    SENDING = "sending"
    #: Delivered; ``result`` holds the channel's answer.
    SENT = "sent"
    #: Given up on; ``last_error`` says why. Listed as a dead letter.
    DEAD = "dead"
    #: Not sent on purpose (the customer unsubscribed); ``last_error`` says why.
    DROPPED = "dropped"


@dataclass(frozen=True, kw_only=True, slots=True)
class Settlement:
    """How a claimed message ends its claim, recorded with the rest of its batch."""

    message: OutboxMessage
    #: ``sent``, ``dead``, ``dropped``, or ``pending`` (tried again, or postponed, at ``at``).
    state: OutboxState
    #: Why it was not sent (``last_error``).
    error: str | None = None
    #: The channel's answer, kept with a sent message.
    result: Any = None
    #: When a ``pending`` message is due again.
    at: datetime | None = None
    #: The claim was no delivery attempt (a postponement): it does not count.
    refund: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class NewMessage:
    """A message to queue. The idempotency key makes adding it again a no-op."""

    workspace_id: str
    idempotency_key: str
    channel: str
    payload: dict[str, Any]
    instance_id: int | None = None
    journey_id: str | None = None
    node: str | None = None
    profile_id: str | None = None
    #: Not before this time; now when empty.
    not_before: datetime | None = None
    #: Asked for by the customer (a receipt): not counted by frequency caps.
    transactional: bool = False


@dataclass(frozen=True, kw_only=True, slots=True)
class OutboxMessage:
    id: int
    workspace_id: str
    idempotency_key: str
    instance_id: int | None
    journey_id: str | None
    node: str | None
    profile_id: str | None
    channel: str
    payload: dict[str, Any]
    state: OutboxState
    #: Delivery attempts so far, this one included once claimed.
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    last_error: str | None
    result: Any

    @classmethod
    def from_row(cls, row: Any) -> OutboxMessage:
        return cls(
            id=row.id,
            workspace_id=row.workspace_id,
            idempotency_key=row.idempotency_key,
            instance_id=row.instance_id,
            journey_id=row.journey_id,
            node=row.node,
            profile_id=row.profile_id,
            channel=row.channel,
            payload=orjson.loads(row.payload),
            state=OutboxState(row.state),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            created_at=row.created_at,
            updated_at=row.updated_at,
            last_error=row.last_error,
            result=None if row.result is None else orjson.loads(row.result),
        )


#: The states a dispatcher may claim from (``sending`` only once its claim has lapsed).
_CLAIMABLE = (OutboxState.SENDING, OutboxState.PENDING)


class OutboxStore:
    """Domain operations on the outbox, over the SQL store's engine."""

    def __init__(self, store: Store) -> None:
        if not isinstance(store, SqlStore):
            raise TypeError(f"the outbox lives in a SQL store, not in {type(store).__name__}")
        self.store = store

    def add(self, conn: Connection, messages: Iterable[NewMessage]) -> int:
        """Queue messages in the caller's transaction. Returns how many were new."""
        now = self.store.clock.now()
        rows = [
            {
                "workspace_id": m.workspace_id,
                "idempotency_key": m.idempotency_key,
                "instance_id": m.instance_id,
                "journey_id": m.journey_id,
                "node": m.node,
                "profile_id": m.profile_id,
                "channel": m.channel,
                "payload": orjson.dumps(m.payload).decode(),
                "state": OutboxState.PENDING.value,
                "attempts": 0,
                "next_attempt_at": m.not_before or now,
                "transactional": m.transactional,
                "created_at": now,
                "updated_at": now,
            }
            for m in messages
        ]
        if not rows:
            return 0
        t = schema.outbox
        stmt = (
            self.store._insert(t)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            .returning(t.c.id)
        )
        return len(conn.execute(stmt, rows).all())

    def claim(self, limit: int, lease: timedelta) -> list[OutboxMessage]:
        """Take up to ``limit`` due messages for ``lease``, oldest due first.

        Lapsed claims come first: they are older than anything pending that is due now.
        Each state is read on its own so that both reads walk ``ix_outbox_due`` in order.
        An idle dispatcher only reads: on SQLite, the write lock it would otherwise take
        at every poll is the one ingestion needs.
        """
        now = self.store.clock.now()
        t = schema.outbox
        due = sa.select(t.c.id).where(
            t.c.state.in_([s.value for s in _CLAIMABLE]), t.c.next_attempt_at <= now
        )
        with self.store.engine.connect() as conn:
            if conn.scalar(due.limit(1)) is None:
                return []
        with self.store._write() as conn:
            ids: list[int] = []
            for state in _CLAIMABLE:
                if len(ids) >= limit:
                    break
                query = (
                    sa.select(t.c.id)
                    .where(t.c.state == state.value, t.c.next_attempt_at <= now)
                    .order_by(t.c.next_attempt_at, t.c.id)
                    .limit(limit - len(ids))
                )
                ids.extend(conn.scalars(self.store._claim_rows(query)))
            if not ids:
                return []
            rows = conn.execute(
                sa.update(t)
                .where(t.c.id.in_(ids))
                .values(
                    state=OutboxState.SENDING.value,
                    attempts=t.c.attempts + 1,
                    next_attempt_at=now + lease,
                    updated_at=now,
                )
                .returning(*t.c)
            ).all()
        order = {id_: n for n, id_ in enumerate(ids)}
        return sorted((OutboxMessage.from_row(r) for r in rows), key=lambda m: order[m.id])

    def mark_sent(
        self,
        message_id: int,
        result: Any,
        *,
        then: Callable[[Connection], None] | None = None,
    ) -> bool:
        """Record a delivery. ``then`` runs in the same transaction (e.g. waking the journey
        instance that waits for the answer), so the two commit together or not at all.

        A message already sent or dead is left alone and ``then`` is not called: returns
        False. A lapsed claim is still recorded: the message did go out.
        """
        t = schema.outbox
        now = self.store.clock.now()
        with self.store._write() as conn:
            done = conn.execute(
                sa.update(t)
                .where(t.c.id == message_id, t.c.state.in_([s.value for s in _CLAIMABLE]))
                .values(
                    state=OutboxState.SENT.value,
                    result=orjson.dumps(result).decode(),
                    last_error=None,
                    updated_at=now,
                )
            ).rowcount
            if done and then is not None:
                then(conn)
        return bool(done)

    def settle(
        self,
        settlements: Sequence[Settlement],
        *,
        then: Callable[[Connection, list[Settlement]], None] | None = None,
    ) -> list[Settlement]:
        """Record how a batch's claims ended, in one transaction: one read of the rows (locked
        on PostgreSQL until the commit), one update. ``then`` runs in the same transaction
        with the settlements that were recorded (their history, waking journey instances).

        As for :meth:`mark_sent` and the others: a message already sent, dead or dropped is
        left alone, and so is a failure whose claim lapsed and was taken again (its attempt
        number changed); a delivery is recorded even when its claim lapsed. Returns the
        settlements recorded.
        """
        if not settlements:
            return []
        t = schema.outbox
        now = self.store.clock.now()
        claimable = {s.value for s in _CLAIMABLE}
        with self.store._write() as conn:
            current = {
                r.id: r
                for r in conn.execute(
                    sa.select(t.c.id, t.c.state, t.c.attempts, t.c.next_attempt_at)
                    .where(t.c.id.in_(sorted({s.message.id for s in settlements})))
                    .order_by(t.c.id)
                    .with_for_update()
                )
            }
            done: list[Settlement] = []
            rows: list[dict[str, Any]] = []
            for s in settlements:
                row = current.get(s.message.id)
                if row is None or row.state not in claimable:
                    continue
                if s.state is not OutboxState.SENT and row.attempts != s.message.attempts:
                    continue
                current.pop(s.message.id)  # once per message, whatever the caller gave
                done.append(s)
                rows.append(
                    {
                        "_id": s.message.id,
                        "_state": s.state.value,
                        "_error": s.error,
                        "_result": None
                        if s.state is not OutboxState.SENT
                        else orjson.dumps(s.result).decode(),
                        "_at": s.at or row.next_attempt_at,
                        "_attempts": row.attempts - 1 if s.refund else row.attempts,
                    }
                )
            if rows:
                conn.execute(
                    sa.update(t)
                    .where(t.c.id == sa.bindparam("_id"))
                    .values(
                        state=sa.bindparam("_state"),
                        last_error=sa.bindparam("_error"),
                        result=sa.bindparam("_result"),
                        next_attempt_at=sa.bindparam("_at"),
                        attempts=sa.bindparam("_attempts"),
                        updated_at=now,
                    ),
                    rows,
                )
            if done and then is not None:
                then(conn, done)
        return done

    def retry_later(
        self, message_id: int, error: str, at: datetime, *, attempt: int | None = None
    ) -> bool:
        """Put a claimed message back, due at ``at``.

        ``attempt`` is the claim's attempt number: when given and the message was claimed
        again meanwhile (this claim lapsed), the newer claim is left alone.
        """
        return self._fail(message_id, OutboxState.PENDING, error, at, attempt)

    def mark_dead(
        self,
        message_id: int,
        error: str,
        *,
        attempt: int | None = None,
        then: Callable[[Connection], None] | None = None,
    ) -> bool:
        """Give up on a claimed message; it becomes a dead letter with this reason.
        ``then`` runs in the same transaction, as for :meth:`mark_sent`."""
        return self._fail(message_id, OutboxState.DEAD, error, None, attempt, then)

    def mark_dropped(
        self,
        message_id: int,
        reason: str,
        *,
        attempt: int | None = None,
        then: Callable[[Connection], None] | None = None,
    ) -> bool:
        """Decide not to send a claimed message (e.g. the customer unsubscribed). ``then``
        runs in the same transaction (e.g. recording the drop in the journey trace)."""
        return self._fail(message_id, OutboxState.DROPPED, reason, None, attempt, then)

    def _fail(
        self,
        message_id: int,
        state: OutboxState,
        error: str,
        at: datetime | None,
        attempt: int | None,
        then: Callable[[Connection], None] | None = None,
    ) -> bool:
        t = schema.outbox
        now = self.store.clock.now()
        where = [t.c.id == message_id, t.c.state.in_([s.value for s in _CLAIMABLE])]
        if attempt is not None:
            where.append(t.c.attempts == attempt)
        values: dict[str, Any] = {"state": state.value, "last_error": error, "updated_at": now}
        if at is not None:
            values["next_attempt_at"] = at
        with self.store._write() as conn:
            done = bool(conn.execute(sa.update(t).where(*where).values(**values)).rowcount)
            if done and then is not None:
                then(conn)
        return done

    def get(self, message_id: int) -> OutboxMessage | None:
        t = schema.outbox
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.id == message_id)).first()
        return None if row is None else OutboxMessage.from_row(row)

    def dead_letters(self, workspace_id: str, limit: int = 100) -> list[OutboxMessage]:
        """The workspace's messages given up on, the latest first."""
        t = schema.outbox
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t)
                .where(t.c.workspace_id == workspace_id, t.c.state == OutboxState.DEAD.value)
                .order_by(t.c.updated_at.desc(), t.c.id.desc())
                .limit(limit)
            ).all()
        return [OutboxMessage.from_row(r) for r in rows]

    def pending_count(self) -> int:
        """Messages not yet delivered nor given up on (pending or being sent)."""
        t = schema.outbox
        with self.store.engine.connect() as conn:
            return int(
                conn.scalar(
                    sa.select(sa.func.count())
                    .select_from(t)
                    .where(t.c.state.in_([s.value for s in _CLAIMABLE]))
                )
                or 0
            )
