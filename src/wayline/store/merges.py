"""What a merge of two profiles does to the state kept of the customer: everything the
merged-away profile had moves to the surviving one, in the transaction that merges them."""

from __future__ import annotations

from datetime import datetime

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema

#: A subscription's status when its customer opted out (``consent.Status.UNSUBSCRIBED``).
UNSUBSCRIBED = "unsubscribed"


def follow_merge(conn: Connection, workspace_id: str, source: str, target: str) -> None:
    """The state of a profile merged into another moves with it: journey instances, their
    trace, waits for the customer's own events, queued messages, enrolments (so that
    re-entry rules see one customer), subscriptions and content."""
    i, s, w, o = (
        schema.journey_instances,
        schema.journey_steps,
        schema.journey_waits,
        schema.outbox,
    )
    for table in (i, s, o):
        conn.execute(
            sa.update(table)
            .where(table.c.workspace_id == workspace_id, table.c.profile_id == source)
            .values(profile_id=target)
        )
    conn.execute(
        sa.update(w)
        .where(w.c.workspace_id == workspace_id, w.c.key_path == "", w.c.key_value == source)
        .values(key_value=target)
    )
    e = schema.journey_enrolments
    for row in conn.execute(
        sa.select(e).where(e.c.workspace_id == workspace_id, e.c.profile_id == source)
    ).all():
        unit = (
            e.c.workspace_id == workspace_id,
            e.c.journey_id == row.journey_id,
            e.c.entry_key == row.entry_key,
        )
        theirs = conn.execute(sa.select(e).where(*unit, e.c.profile_id == target)).first()
        if theirs is None:
            conn.execute(
                sa.update(e).where(*unit, e.c.profile_id == source).values(profile_id=target)
            )
            continue
        conn.execute(
            sa.update(e)
            .where(*unit, e.c.profile_id == target)
            .values(
                entries=theirs.entries + row.entries,
                last_entered_at=max(theirs.last_entered_at, row.last_entered_at),
                active_instance_id=theirs.active_instance_id or row.active_instance_id,
            )
        )
        conn.execute(sa.delete(e).where(*unit, e.c.profile_id == source))
    _subscriptions(conn, workspace_id, source, target)
    _content(conn, workspace_id, source, target)


def _subscriptions(conn: Connection, workspace_id: str, source: str, target: str) -> None:
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
        if row.status == UNSUBSCRIBED:
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


def _content(conn: Connection, workspace_id: str, source: str, target: str) -> None:
    """A merged customer keeps the content of both profiles."""
    t = schema.content_items
    conn.execute(
        sa.update(t)
        .where(t.c.workspace_id == workspace_id, t.c.profile_id == source)
        .values(profile_id=target)
    )


def merged_away(
    conn: Connection, workspace_id: str, profile_id: str, into_profile_id: str, at: datetime
) -> None:
    """A profile merged into another is in no segment any more (logged, not announced):
    the surviving profile is evaluated on the event that merged them.

    A static segment is not evaluated, so its membership passes to the surviving profile
    (logged, not announced: the customer was a member already)."""
    m = schema.segment_members
    left = list(
        conn.scalars(
            sa.select(m.c.segment_id).where(
                m.c.workspace_id == workspace_id, m.c.profile_id == profile_id
            )
        )
    )
    changes = [(s, profile_id, "exited") for s in left]
    if left:
        t = schema.segments
        static = {
            r.segment_id
            for r in conn.execute(
                sa.select(t.c.segment_id, t.c.spec).where(
                    t.c.workspace_id == workspace_id, t.c.segment_id.in_(left)
                )
            )
            if orjson.loads(r.spec).get("static") is True
        }
        held = set(
            conn.scalars(
                sa.select(m.c.segment_id).where(
                    m.c.workspace_id == workspace_id,
                    m.c.profile_id == into_profile_id,
                    m.c.segment_id.in_(sorted(static)),
                )
            )
        )
        passed = sorted(static - held)
        if passed:
            conn.execute(
                sa.insert(m),
                [
                    {
                        "workspace_id": workspace_id,
                        "segment_id": s,
                        "profile_id": into_profile_id,
                        "entered_at": at,
                    }
                    for s in passed
                ],
            )
        changes += [(s, into_profile_id, "entered") for s in passed]
    if changes:
        conn.execute(
            sa.insert(schema.segment_changes),
            [
                {
                    "workspace_id": workspace_id,
                    "segment_id": s,
                    "profile_id": who,
                    "kind": kind,
                    "at": at,
                    "pending": False,
                }
                for s, who, kind in changes
            ],
        )
    for table in (m, schema.segment_rechecks):
        conn.execute(
            sa.delete(table).where(
                table.c.workspace_id == workspace_id, table.c.profile_id == profile_id
            )
        )
