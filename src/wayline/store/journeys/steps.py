"""Steps: the trace of each instance (entered, moved, waited, exited), and the per-node
counts read from it."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from wayline.store import schema
from wayline.store.journeys.rows import InstanceState, Step
from wayline.store.rechecks import recheck_on_journey_steps
from wayline.store.sql import SqlStore


class Steps:
    """Step operations of :class:`~wayline.store.journeys.JourneyStore`."""

    store: SqlStore

    # -- steps ---------------------------------------------------------------------------

    def add_steps(self, conn: Connection, steps: Sequence[Step]) -> None:
        if steps:
            conn.execute(
                sa.insert(schema.journey_steps),
                [
                    {
                        "workspace_id": s.workspace_id,
                        "instance_id": s.instance_id,
                        "journey_id": s.journey_id,
                        "profile_id": s.profile_id,
                        "node": s.node,
                        "kind": s.kind,
                        "reason": s.reason,
                        "at": s.at,
                    }
                    for s in steps
                ],
            )
            recheck_on_journey_steps(self.store, conn, steps)

    def steps(self, workspace_id: str, journey_id: str, profile_id: str) -> list[Step]:
        s = schema.journey_steps
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(s)
                .where(
                    s.c.workspace_id == workspace_id,
                    s.c.journey_id == journey_id,
                    s.c.profile_id == profile_id,
                )
                .order_by(s.c.id)
            )
            return [
                Step(
                    instance_id=r.instance_id,
                    workspace_id=r.workspace_id,
                    journey_id=r.journey_id,
                    profile_id=r.profile_id,
                    node=r.node,
                    kind=r.kind,
                    reason=r.reason,
                    at=r.at,
                )
                for r in rows
            ]

    def node_counts(self, workspace_id: str, journey_id: str) -> dict[str, dict[str, int]]:
        """Per node: how many steps of each kind, and how many wait there now."""
        s, i = schema.journey_steps, schema.journey_instances
        counts: dict[str, dict[str, int]] = {}
        with self.store.engine.connect() as conn:
            for node, kind, n in conn.execute(
                sa.select(s.c.node, s.c.kind, sa.func.count())
                .where(s.c.workspace_id == workspace_id, s.c.journey_id == journey_id)
                .group_by(s.c.node, s.c.kind)
            ):
                counts.setdefault(node, {})[kind] = int(n)
            for node, n in conn.execute(
                sa.select(i.c.node, sa.func.count())
                .where(
                    i.c.workspace_id == workspace_id,
                    i.c.journey_id == journey_id,
                    i.c.state != InstanceState.DONE.value,
                )
                .group_by(i.c.node)
            ):
                counts.setdefault(node, {})["here_now"] = int(n)
        return counts
