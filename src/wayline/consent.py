"""Consent: who may receive marketing messages on which channel and topic.

Today a subscription row records an opt-out (or an opt-in again) per workspace, customer,
channel and topic; ``*`` stands for every marketing message of the channel. The
dispatcher asks :func:`blocked` before it sends anything that is not transactional.
The row has room for what comes next (subscription groups are topics, double opt-in a
``pending`` status, the source tells a preference page from a one-click header).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema

#: The topic that stands for every marketing message of a channel.
ALL_TOPICS = "*"


class Status(StrEnum):
    #: May receive marketing messages (the default without a row).
    SUBSCRIBED = "subscribed"
    #: Receives no marketing message of this channel (and topic).
    UNSUBSCRIBED = "unsubscribed"


class Source(StrEnum):
    #: The RFC 8058 one-click POST a mailbox provider sends from its own button.
    ONE_CLICK = "one_click"
    #: The unsubscribe link in the message, confirmed on its page.
    LINK = "link"
    #: The admin API.
    API = "api"


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


def follow_merge(conn: Connection, workspace_id: str, source: str, target: str) -> None:
    """A merged customer keeps every opt-out of both profiles: an opt-out wins."""
    t = schema.subscriptions
    for row in conn.execute(
        sa.select(t).where(t.c.workspace_id == workspace_id, t.c.profile_id == source)
    ).all():
        unit = (
            t.c.workspace_id == workspace_id,
            t.c.channel == row.channel,
            t.c.topic == row.topic,
        )
        theirs = conn.execute(sa.select(t.c.status).where(*unit, t.c.profile_id == target)).scalar()
        if theirs is None:
            conn.execute(
                sa.update(t).where(*unit, t.c.profile_id == source).values(profile_id=target)
            )
            continue
        if row.status == Status.UNSUBSCRIBED.value:
            conn.execute(
                sa.update(t)
                .where(*unit, t.c.profile_id == target)
                .values(status=row.status, source=row.source, updated_at=row.updated_at)
            )
        conn.execute(sa.delete(t).where(*unit, t.c.profile_id == source))
    m = schema.message_events
    conn.execute(
        sa.update(m)
        .where(m.c.workspace_id == workspace_id, m.c.profile_id == source)
        .values(profile_id=target)
    )


def erase(conn: Connection, workspace_id: str, profile_id: str) -> None:
    """Remove a customer's subscriptions and message history (erasure)."""
    for table in (schema.subscriptions, schema.message_events):
        conn.execute(
            sa.delete(table).where(
                table.c.workspace_id == workspace_id, table.c.profile_id == profile_id
            )
        )
