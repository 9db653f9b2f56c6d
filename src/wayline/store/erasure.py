"""Erasure: everything the store holds of a customer removed in one transaction, except
the hash of each of their addresses, which stays on the suppression list."""

from __future__ import annotations

from typing import TYPE_CHECKING

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import rejections, schema
from wayline.store.base import ErasureReport, PendingErasure
from wayline.store.profiles import event_filter, identity_keys
from wayline.store.suppressions import forget_customer

if TYPE_CHECKING:
    from wayline.store.sql import SqlStore

#: The counter every erase bumps (workspace, name): consumers check it before they save.
ERASURES = ("*", "erasures")

#: Every table an erase deletes rows from (or rewrites a row of).
ERASED_TABLES = (
    "inbox",
    "rejections",
    "identities",
    "profiles",
    "profile_merges",
    "subscriptions",
    "message_events",
    "content_items",
    "journey_waits",
    "journey_steps",
    "journey_enrolments",
    "outbox",
    "journey_instances",
    "journey_schedule_runs",
    "segment_members",
    "segment_changes",
    "segment_rechecks",
    "customer_stages",
    "stage_changes",
    "suppressions",
    "erasures",
)


def erase_profile(store: SqlStore, workspace_id: str, profile_id: str) -> ErasureReport:
    """Everything kept of the customer, in one transaction; their addresses stay suppressed
    (by hash only), and the erasure is recorded for the warehouse to follow."""
    now = store.clock.now()
    with store._write() as conn:
        # first thing: a consumer batch either committed before (and everything it
        # linked is seen below) or sees the mark move and starts again
        store._bump(conn, *ERASURES, 1)
        ids = identity_keys(conn, profile_id)
        forget_customer(store, conn, workspace_id, profile_id, ids, now)
        events = conn.execute(
            sa.delete(schema.inbox).where(event_filter(workspace_id, ids))
        ).rowcount
        conn.execute(
            sa.delete(schema.identities).where(
                schema.identities.c.profile_id == profile_id,
                schema.identities.c.workspace_id == workspace_id,
            )
        )
        gone = conn.execute(
            sa.delete(schema.profiles).where(
                schema.profiles.c.id == profile_id,
                schema.profiles.c.workspace_id == workspace_id,
            )
        ).rowcount
        m = schema.profile_merges
        merges = conn.execute(
            sa.delete(m).where(
                m.c.workspace_id == workspace_id,
                sa.or_(m.c.from_profile_id == profile_id, m.c.into_profile_id == profile_id),
            )
        ).rowcount
        rejected = rejections.erase(conn, workspace_id, ids)
        erase_journey_state(conn, workspace_id, profile_id)
        erase_segment_state(conn, workspace_id, profile_id)
        erase_stage_state(conn, workspace_id, profile_id)
        if events:
            store._bump(conn, workspace_id, "events", -events)
        if gone:
            store._bump(conn, workspace_id, "profiles", -gone)
        erasure_id = conn.execute(
            sa.insert(schema.erasures)
            .values(
                workspace_id=workspace_id,
                requested_at=now,
                identities=orjson.dumps(ids).decode(),
            )
            .returning(schema.erasures.c.id)
        ).scalar_one()
    return ErasureReport(
        profile_id=profile_id,
        identities=ids,
        events=events,
        merges=merges,
        rejections=rejected,
        erasure_id=erasure_id,
    )


def pending(conn: Connection) -> list[PendingErasure]:
    """Erasures the warehouse has yet to follow, oldest first."""
    t = schema.erasures
    rows = conn.execute(sa.select(t).order_by(t.c.id)).all()
    return [
        PendingErasure(
            id=r.id,
            workspace_id=r.workspace_id,
            identities=[(k, v) for k, v in orjson.loads(r.identities)],
        )
        for r in rows
    ]


def finish(conn: Connection, erasure_id: int) -> None:
    conn.execute(sa.delete(schema.erasures).where(schema.erasures.c.id == erasure_id))


def erase_journey_state(conn: Connection, workspace_id: str, profile_id: str) -> None:
    """Everything journeys hold of a customer: instances, their waits and trace,
    enrolments, queued messages, their status history, subscriptions and content, and their
    id as a scheduled run's cursor. Runs after the profile row is deleted."""
    for table in (schema.subscriptions, schema.message_events, schema.content_items):
        conn.execute(
            sa.delete(table).where(
                table.c.workspace_id == workspace_id, table.c.profile_id == profile_id
            )
        )
    i, w = schema.journey_instances, schema.journey_waits
    ids = sa.select(i.c.id).where(i.c.workspace_id == workspace_id, i.c.profile_id == profile_id)
    conn.execute(sa.delete(w).where(w.c.instance_id.in_(ids)))
    conn.execute(
        sa.delete(w).where(
            w.c.workspace_id == workspace_id, w.c.key_path == "", w.c.key_value == profile_id
        )
    )
    for table in (
        schema.journey_steps,
        schema.journey_enrolments,
        schema.outbox,
        schema.journey_instances,
    ):
        conn.execute(
            sa.delete(table).where(
                table.c.workspace_id == workspace_id, table.c.profile_id == profile_id
            )
        )
    # a scheduled run's cursor may be the customer's id: the id before it (the profile is
    # gone already) resumes the run at the same place
    r, p = schema.journey_schedule_runs, schema.profiles
    before = conn.scalar(
        sa.select(sa.func.max(p.c.id)).where(p.c.workspace_id == workspace_id, p.c.id < profile_id)
    )
    conn.execute(
        sa.update(r)
        .where(r.c.workspace_id == workspace_id, r.c.cursor == profile_id)
        .values(cursor=before or "")
    )


def erase_segment_state(conn: Connection, workspace_id: str, profile_id: str) -> None:
    """Everything segments hold of a customer: memberships, change log, re-check."""
    for table in (schema.segment_members, schema.segment_changes, schema.segment_rechecks):
        conn.execute(
            sa.delete(table).where(
                table.c.workspace_id == workspace_id, table.c.profile_id == profile_id
            )
        )


def erase_stage_state(conn: Connection, workspace_id: str, profile_id: str) -> None:
    """Everything stages hold of a customer: current stage and change log."""
    for table in (schema.customer_stages, schema.stage_changes):
        conn.execute(
            sa.delete(table).where(
                table.c.workspace_id == workspace_id, table.c.profile_id == profile_id
            )
        )
