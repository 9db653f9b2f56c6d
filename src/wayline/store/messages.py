"""What happened to each message after it was queued: its status history (sent, failed,
dropped, delivered, bounced, complained, opened, clicked, unsubscribed), kept beside the
outbox row it belongs to."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.outbox import OutboxMessage
from wayline.store.sql import SqlStore


class MessageEvent(StrEnum):
    #: The channel accepted the message (the SMTP server, the SMS provider, …).
    SENT = "sent"
    #: Given up on: a permanent failure or out of attempts.
    FAILED = "failed"
    #: Not sent on purpose (the customer unsubscribed, quiet hours, a frequency cap).
    DROPPED = "dropped"
    #: Held back at send time until later (quiet hours); ``detail`` says until when.
    POSTPONED = "postponed"
    #: The open pixel was loaded.
    OPENED = "opened"
    #: A tracked link was followed.
    CLICKED = "clicked"
    #: The customer unsubscribed from the message's link or header.
    UNSUBSCRIBED = "unsubscribed"
    #: The provider reports it reached the mailbox or phone.
    DELIVERED = "delivered"
    #: The provider reports a bounce (hard or soft: see the detail).
    BOUNCED = "bounced"
    #: The recipient marked it as spam.
    COMPLAINED = "complained"


def record(
    store: SqlStore,
    conn: Connection,
    message: OutboxMessage,
    kind: MessageEvent,
    at: datetime,
    *,
    key: str = "",
    detail: dict[str, Any] | None = None,
) -> bool:
    """Add to the message's history unless this (kind, key) is there already."""
    t = schema.message_events
    stmt = (
        store._insert(t)
        .values(
            workspace_id=message.workspace_id,
            message_id=message.id,
            instance_id=message.instance_id,
            node=message.node,
            profile_id=message.profile_id,
            kind=kind.value,
            key=key,
            detail=None if detail is None else orjson.dumps(detail).decode(),
            at=at,
        )
        .on_conflict_do_nothing(index_elements=["message_id", "kind", "key"])
        .returning(t.c.id)
    )
    return conn.execute(stmt).first() is not None


@dataclass(frozen=True, kw_only=True, slots=True)
class HistoryEntry:
    """One line of a message's status history, to add with others (:func:`record_many`)."""

    message: OutboxMessage
    kind: MessageEvent
    at: datetime
    key: str = ""
    detail: dict[str, Any] | None = None


def record_many(store: SqlStore, conn: Connection, entries: Sequence[HistoryEntry]) -> None:
    """Add each entry to its message's history unless its (kind, key) is there already:
    one statement for the lot."""
    if not entries:
        return
    t = schema.message_events
    rows = [
        {
            "workspace_id": e.message.workspace_id,
            "message_id": e.message.id,
            "instance_id": e.message.instance_id,
            "node": e.message.node,
            "profile_id": e.message.profile_id,
            "kind": e.kind.value,
            "key": e.key,
            "detail": None if e.detail is None else orjson.dumps(e.detail).decode(),
            "at": e.at,
        }
        for e in entries
    ]
    stmt = store._insert(t).on_conflict_do_nothing(index_elements=["message_id", "kind", "key"])
    conn.execute(stmt, rows)


def engagement(conn: Connection, instance_ids: Iterable[int]) -> dict[int, dict[str, set[str]]]:
    """Per instance, per send node: what the customer did with its messages (opened,
    clicked). A click counts as an open: the message was seen."""
    wanted = sorted(set(instance_ids))
    found: dict[int, dict[str, set[str]]] = {}
    t = schema.message_events
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            sa.select(t.c.instance_id, t.c.node, t.c.kind)
            .distinct()
            .where(
                t.c.instance_id.in_(wanted[start : start + 500]),
                t.c.kind.in_([MessageEvent.OPENED.value, MessageEvent.CLICKED.value]),
            )
        )
        for instance_id, node, kind in rows:
            kinds = found.setdefault(instance_id, {}).setdefault(node or "", set())
            kinds.add(kind)
            if kind == MessageEvent.CLICKED.value:
                kinds.add(MessageEvent.OPENED.value)
    return found


def profile_messages(
    store: SqlStore, workspace_id: str, profile_id: str, *, limit: int = 100
) -> list[dict[str, Any]]:
    """Every message to the customer, the latest first, with its status history."""
    o, e = schema.outbox, schema.message_events
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(o)
            .where(o.c.workspace_id == workspace_id, o.c.profile_id == profile_id)
            .order_by(o.c.created_at.desc(), o.c.id.desc())
            .limit(limit)
        ).all()
        ids = [r.id for r in rows]
        history: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            for ev in conn.execute(
                sa.select(e).where(e.c.message_id.in_(ids)).order_by(e.c.at, e.c.id)
            ):
                history[ev.message_id].append(
                    {
                        "status": ev.kind,
                        "at": ev.at.isoformat(),
                        **({"detail": orjson.loads(ev.detail)} if ev.detail else {}),
                    }
                )
    messages = []
    for r in rows:
        m = OutboxMessage.from_row(r)
        messages.append(
            {
                "id": m.id,
                "channel": m.channel,
                "template": m.payload.get("template"),
                "journey_id": m.journey_id,
                "node": m.node,
                "transactional": bool(m.payload.get("transactional", False)),
                "state": m.state.value,
                "attempts": m.attempts,
                "last_error": m.last_error,
                "created_at": m.created_at.isoformat(),
                "history": [{"status": "queued", "at": m.created_at.isoformat()}] + history[m.id],
            }
        )
    return messages
