"""Delivery and engagement events go back into the inbox as ordinary ``track`` events, so
that journeys wait for them and branch on them, and analytics count them.

Each event's ``messageId`` is made from the message and what happened to it, so that a
repeat (a retried send, a second open) is dropped by the inbox's de-duplication. An
event is appended in a transaction of its own, whose first write is the inbox insert (what
the PostgreSQL inbox consumers rely on).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.events import EventRow, parse_message
from wayline.store import schema
from wayline.store.outbox import OutboxMessage
from wayline.store.sql import SqlStore

#: Event names, as Customer.io and Braze name them (persisted: never rename).
MESSAGE_SENT = "Message Sent"
MESSAGE_FAILED = "Message Failed"
EMAIL_OPENED = "Email Opened"
EMAIL_LINK_CLICKED = "Email Link Clicked"
UNSUBSCRIBED = "Unsubscribed"
#: Reported by the provider (see ``wayline.channels.provider_events``).
EMAIL_DELIVERED = "Email Delivered"
EMAIL_BOUNCED = "Email Bounced"
EMAIL_MARKED_AS_SPAM = "Email Marked as Spam"
SMS_DELIVERED = "SMS Delivered"


def sender_ids(store: SqlStore, profile_id: str) -> tuple[str | None, str | None]:
    """The userId (else an anonymousId) an event about this customer is sent as."""
    t = schema.identities
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.c.kind, t.c.value)
            .where(t.c.profile_id == profile_id, t.c.kind.in_(["user_id", "anonymous_id"]))
            .order_by(t.c.first_seen, t.c.value)
        ).all()
    users = [v for k, v in rows if k == "user_id"]
    if users:
        return users[0], None
    anonymous = [v for k, v in rows if k == "anonymous_id"]
    return None, anonymous[0] if anonymous else None


def senders_of(
    conn: Connection, profile_ids: Iterable[str]
) -> dict[str, tuple[str | None, str | None]]:
    """:func:`sender_ids` for many customers at once (customers without either are absent)."""
    wanted = sorted(set(profile_ids))
    t = schema.identities
    found: dict[str, tuple[str | None, str | None]] = {}
    for start in range(0, len(wanted), 500):
        rows = conn.execute(
            sa.select(t.c.profile_id, t.c.kind, t.c.value)
            .where(
                t.c.profile_id.in_(wanted[start : start + 500]),
                t.c.kind.in_(["user_id", "anonymous_id"]),
            )
            .order_by(t.c.profile_id, t.c.first_seen, t.c.value)
        ).all()
        for profile_id, kind, value in rows:
            user_id, anonymous_id = found.get(profile_id, (None, None))
            if kind == "user_id" and user_id is None:
                found[profile_id] = (value, None)
            elif kind == "anonymous_id" and user_id is None and anonymous_id is None:
                found[profile_id] = (None, value)
    return found


@dataclass(frozen=True, kw_only=True, slots=True)
class Feedback:
    """An event about a message, to append with others (:func:`emit_many`)."""

    message: OutboxMessage
    event: str
    key: str
    properties: dict[str, Any]


def emit_many(store: SqlStore, items: Sequence[Feedback]) -> int:
    """Append the events to their customers' timelines: one read of who they are, then one
    transaction per workspace (usually one). Returns how many were new."""
    wanted = [i for i in items if i.message.profile_id is not None]
    if not wanted:
        return 0
    with store.engine.connect() as conn:
        senders = senders_of(conn, (i.message.profile_id or "" for i in wanted))
    now = store.clock.now()
    per_workspace: dict[str, list[EventRow]] = {}
    for item in wanted:
        found = senders.get(item.message.profile_id or "")
        if found is None:
            continue  # erased meanwhile: nobody to tell
        row = parse_message(
            _call(item.event, item.key, item.properties, found, now), received_at=now
        )
        per_workspace.setdefault(item.message.workspace_id, []).append(row)
    return sum(store.append_events(ws, rows) for ws, rows in per_workspace.items())


def _call(
    event: str,
    key: str,
    properties: dict[str, Any],
    sender: tuple[str | None, str | None],
    now: datetime,
) -> dict[str, Any]:
    user_id, anonymous_id = sender
    call: dict[str, Any] = {
        "type": "track",
        "event": event,
        "messageId": f"wl-{key}"[:255],
        "timestamp": now.isoformat(),
        "properties": properties,
        "context": {"library": {"name": "wayline"}},
    }
    if user_id is not None:
        call["userId"] = user_id
    else:
        call["anonymousId"] = anonymous_id
    return call


def message_properties(message: OutboxMessage, **extra: Any) -> dict[str, Any]:
    payload = message.payload
    props: dict[str, Any] = {
        "message_id": message.id,
        "channel": message.channel,
        "template": payload.get("template"),
        "journey_id": message.journey_id,
        "node": message.node,
        "transactional": bool(payload.get("transactional", False)),
    }
    if payload.get("topic"):
        props["topic"] = payload["topic"]
    props.update(extra)
    return {k: v for k, v in props.items() if v is not None}


def emit(
    store: SqlStore,
    message: OutboxMessage,
    event: str,
    key: str,
    properties: dict[str, Any],
) -> bool:
    """Append the event to the customer's timeline. Returns whether it was new."""
    if message.profile_id is None:
        return False
    user_id, anonymous_id = sender_ids(store, message.profile_id)
    if user_id is None and anonymous_id is None:
        return False  # erased meanwhile: nobody to tell
    now = store.clock.now()
    row = parse_message(
        _call(event, key, properties, (user_id, anonymous_id), now), received_at=now
    )
    return store.append_events(message.workspace_id, [row]) > 0
