"""Consent: who may receive which messages, on which channel and topic.

A subscription row records a customer's choice per workspace, channel and topic; ``*``
stands for every marketing message of the channel. Subscription groups (see
:mod:`wayline.subscription_groups`) say what holds without a row: an ``opt_out`` group's
messages go to every customer until they unsubscribe, an ``opt_in`` group's only to those
subscribed (``pending`` — waiting for the double opt-in link — is not yet subscribed).
The suppression list (:mod:`wayline.store.suppressions`) stops every message, transactional
ones included, to an address that bounced, complained or was erased.

The dispatcher asks :func:`may_send` before it hands a customer's message to its channel.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.outbox import OutboxMessage
from wayline.store.sql import SqlStore

#: The topic that stands for every marketing message of a channel.
ALL_TOPICS = "*"


class Status(StrEnum):
    #: May receive marketing messages (the default without a row).
    SUBSCRIBED = "subscribed"
    #: Receives no marketing message of this channel (and topic).
    UNSUBSCRIBED = "unsubscribed"
    #: Subscribed to a double opt-in group, waiting for the confirmation link.
    PENDING = "pending"


class Source(StrEnum):
    #: The RFC 8058 one-click POST a mailbox provider sends from its own button.
    ONE_CLICK = "one_click"
    #: The unsubscribe link in the message, confirmed on its page.
    LINK = "link"
    #: The admin API.
    API = "api"
    #: The hosted preference page.
    PREFERENCES = "preferences"
    #: The link of the double opt-in confirmation email.
    CONFIRMATION = "confirmation"


def set_status(
    conn: Connection,
    *,
    workspace_id: str,
    profile_id: str,
    channel: str,
    topic: str | None,
    status: Status,
    source: Source,
    now: datetime,
    message_id: int | None = None,
) -> bool:
    """Record a customer's choice. Returns whether it changed anything."""
    t = schema.subscriptions
    key = (
        t.c.workspace_id == workspace_id,
        t.c.profile_id == profile_id,
        t.c.channel == channel,
        t.c.topic == (topic or ALL_TOPICS),
    )
    current = conn.execute(sa.select(t.c.status).where(*key)).scalar()
    if current == status.value:
        return False
    values = {"status": status.value, "source": source.value, "message_id": message_id}
    if current is None:
        conn.execute(
            sa.insert(t).values(
                workspace_id=workspace_id,
                profile_id=profile_id,
                channel=channel,
                topic=topic or ALL_TOPICS,
                created_at=now,
                updated_at=now,
                **values,
            )
        )
    else:
        conn.execute(sa.update(t).where(*key).values(updated_at=now, **values))
    return True


def blocked(
    conn: Connection, workspace_id: str, profile_id: str, channel: str, topic: str | None
) -> str | None:
    """Why a marketing message may not go to this customer, or None if it may."""
    t = schema.subscriptions
    topics = [ALL_TOPICS] if not topic else [ALL_TOPICS, topic]
    rows = conn.execute(
        sa.select(t.c.topic, t.c.source).where(
            t.c.workspace_id == workspace_id,
            t.c.profile_id == profile_id,
            t.c.channel == channel,
            t.c.topic.in_(topics),
            t.c.status == Status.UNSUBSCRIBED.value,
        )
    ).all()
    if not rows:
        return None
    row = min(rows, key=lambda r: r.topic != ALL_TOPICS)
    what = f"every {channel} message" if row.topic == ALL_TOPICS else f"topic {row.topic!r}"
    return f"unsubscribed: the customer opted out of {what} ({row.source})"


def status(
    conn: Connection, workspace_id: str, profile_id: str, channel: str, topic: str
) -> Status | None:
    """The customer's recorded choice for exactly this channel and topic, if any."""
    t = schema.subscriptions
    found = conn.scalar(
        sa.select(t.c.status).where(
            t.c.workspace_id == workspace_id,
            t.c.profile_id == profile_id,
            t.c.channel == channel,
            t.c.topic == topic,
        )
    )
    return None if found is None else Status(found)


def without_consent(
    conn: Connection, workspace_id: str, profile_id: str, channel: str, topic: str | None
) -> str | None:
    """Why a marketing message may not go to this customer: an opt-out, or an opt-in group
    they have not (yet) joined. None if it may."""
    reason = blocked(conn, workspace_id, profile_id, channel, topic)
    if reason is not None:
        return reason
    from wayline.subscription_groups import group_for

    group = group_for(conn, workspace_id, channel, topic)
    if group is None or not group.opt_in:
        return None
    choice = status(conn, workspace_id, profile_id, channel, group.topic)
    if choice is Status.SUBSCRIBED:
        return None
    if choice is Status.PENDING:
        return (
            f"no consent: the customer has not confirmed their subscription to {group.name!r} "
            "(double opt-in)"
        )
    return f"no consent: {group.name!r} is opt-in and the customer has not subscribed"


def recipient(conn: Connection, profile_id: str, channel: str) -> str | None:
    """The address a channel would send to: ``traits.email`` / ``traits.phone``, else the
    customer's first identity of that kind (as the email and SMS channels choose)."""
    from wayline.store.profiles import traits_of

    trait, kind = ("email", "email") if channel == "email" else ("phone", "phone")
    traits = traits_of(conn, [profile_id]).get(profile_id, {})
    found = traits.get(trait)
    if isinstance(found, str) and found.strip():
        return found
    t = schema.identities
    value = conn.scalar(
        sa.select(t.c.value)
        .where(t.c.profile_id == profile_id, t.c.kind == kind)
        .order_by(t.c.first_seen)
        .limit(1)
    )
    return None if value is None else str(value)


def may_send(store: SqlStore, message: OutboxMessage) -> str | None:
    """Why a customer's message (email, SMS) may not go out now, or None if it may.

    The recipient's address on the suppression list stops every message; consent (opt-outs
    and opt-in groups) stops marketing messages only: transactional ones are exempt.
    """
    with store.engine.connect() as conn:
        return may_send_on(conn, message)


def may_send_on(conn: Connection, message: OutboxMessage) -> str | None:
    """:func:`may_send`, read on the caller's connection."""
    from wayline.store import suppressions

    if message.profile_id is None:
        return None
    address = recipient(conn, message.profile_id, message.channel)
    if address is not None:
        found = suppressions.find(conn, message.workspace_id, message.channel, address)
        if found is not None:
            return f"suppressed: the address is on the suppression list ({found.reason})"
    if message.payload.get("transactional"):
        return None
    return without_consent(
        conn,
        message.workspace_id,
        message.profile_id,
        message.channel,
        message.payload.get("topic"),
    )


def subscriptions(conn: Connection, workspace_id: str, profile_id: str) -> list[dict[str, str]]:
    t = schema.subscriptions
    rows = conn.execute(
        sa.select(t)
        .where(t.c.workspace_id == workspace_id, t.c.profile_id == profile_id)
        .order_by(t.c.channel, t.c.topic)
    )
    return [
        {
            "channel": r.channel,
            "topic": r.topic,
            "status": r.status,
            "source": r.source,
            "updated_at": r.updated_at.isoformat(),
        }
        for r in rows
    ]
