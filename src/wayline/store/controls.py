"""A workspace's global controls in the state store, and the counts they are checked with.

The controls are kept as validated JSON, one row per workspace, replaced whole. The counts
(a customer's recent messages on a channel, a journey's recent messages) read the outbox
through its ``ix_outbox_profile_channel`` and ``ix_outbox_journey`` indexes, inside the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.sql import SqlStore


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredControls:
    workspace_id: str
    spec: dict[str, Any]
    updated_at: datetime


class ControlsStore:
    """Workspace controls, over the shared SQL store."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def get(self, workspace_id: str) -> StoredControls | None:
        t = schema.workspace_controls
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(t).where(t.c.workspace_id == workspace_id)).first()
        if row is None:
            return None
        return StoredControls(
            workspace_id=row.workspace_id, spec=orjson.loads(row.spec), updated_at=row.updated_at
        )

    def put(self, workspace_id: str, spec: dict[str, Any]) -> StoredControls:
        """Replace the workspace's controls with ``spec`` (already validated)."""
        t = schema.workspace_controls
        now = self.store.clock.now()
        text = orjson.dumps(spec).decode()
        with self.store._write() as conn:
            stmt = self.store._insert(t).values(
                workspace_id=workspace_id, spec=text, updated_at=now
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["workspace_id"], set_={"spec": text, "updated_at": now}
                )
            )
        return StoredControls(workspace_id=workspace_id, spec=spec, updated_at=now)


def controls_of(conn: Connection, workspace_ids: Iterable[str]) -> dict[str, str]:
    """Each workspace's controls as stored (JSON text); workspaces without any are absent."""
    wanted = sorted(set(workspace_ids))
    t = schema.workspace_controls
    rows = conn.execute(sa.select(t.c.workspace_id, t.c.spec).where(t.c.workspace_id.in_(wanted)))
    return {workspace_id: spec for workspace_id, spec in rows}


def customer_sent(
    conn: Connection, workspace_id: str, profile_id: str, channel: str | None, since: datetime
) -> int:
    """Marketing (non-transactional) messages queued to a customer after ``since``, on
    ``channel``, or on every channel but webhook when ``channel`` is None."""
    o = schema.outbox
    where = [
        o.c.workspace_id == workspace_id,
        o.c.profile_id == profile_id,
        o.c.created_at > since,
        o.c.transactional == sa.false(),
    ]
    where.append(o.c.channel == channel if channel is not None else o.c.channel != "webhook")
    return int(conn.scalar(sa.select(sa.func.count()).select_from(o).where(*where)) or 0)


#: The outbox channel that records a journey's profile changes (an ``identify`` call): not a
#: message, so no send_rate counts it.
RECORD_CHANNEL = "identify"


def journey_sent(conn: Connection, workspace_id: str, journey_id: str, since: datetime) -> int:
    """Messages a journey queued after ``since``."""
    o = schema.outbox
    query = (
        sa.select(sa.func.count())
        .select_from(o)
        .where(o.c.workspace_id == workspace_id, o.c.journey_id == journey_id)
        .where(o.c.created_at > since, o.c.channel != RECORD_CHANNEL)
    )
    return int(conn.scalar(query) or 0)


def journey_sent_at(
    conn: Connection, workspace_id: str, journey_id: str, since: datetime, nth: int
) -> datetime | None:
    """When the journey queued its ``nth`` (0-based) message after ``since``, oldest first."""
    o = schema.outbox
    query = (
        sa.select(o.c.created_at)
        .where(o.c.workspace_id == workspace_id, o.c.journey_id == journey_id)
        .where(o.c.created_at > since, o.c.channel != RECORD_CHANNEL)
        .order_by(o.c.created_at)
        .offset(nth)
        .limit(1)
    )
    found: datetime | None = conn.scalar(query)
    return found
