"""Segment re-checks planned by the store itself: customers whose journey state or stage
moved are evaluated again by the segment consumer, in the transaction that moved them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.sql import SqlStore


def recheck_on_journey_steps(store: SqlStore, conn: Connection, steps: Sequence[Any]) -> None:
    """Customers whose journey state moved are re-checked at once, in the same transaction,
    in workspaces with segments that ask about journeys (``{journey: ID}``)."""
    workspaces = {s.workspace_id for s in steps}
    if not workspaces:
        return
    t = schema.segments
    watching = set(
        conn.scalars(
            sa.select(t.c.workspace_id)
            .distinct()
            .where(t.c.workspace_id.in_(sorted(workspaces)), t.c.spec.contains('"journey":'))
        )
    )
    soonest: dict[tuple[str, str], datetime] = {}
    for s in steps:
        if s.workspace_id in watching:
            key = (s.workspace_id, s.profile_id)
            soonest[key] = min(s.at, soonest.get(key, s.at))
    recheck_by(store, conn, soonest)


def recheck_by(store: SqlStore, conn: Connection, soonest: dict[tuple[str, str], datetime]) -> None:
    """(workspace, profile) -> a moment: the segment consumer re-checks each customer at
    that moment, or at the one already planned if that is sooner."""
    if not soonest:
        return
    r = schema.segment_rechecks
    stmt = store._insert(r)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["workspace_id", "profile_id"],
            set_={
                "due_at": sa.case(
                    (stmt.excluded.due_at < r.c.due_at, stmt.excluded.due_at), else_=r.c.due_at
                )
            },
        ),
        [
            {"workspace_id": w, "profile_id": p, "due_at": at}
            for (w, p), at in sorted(soonest.items())
        ],
    )
