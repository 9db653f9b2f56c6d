"""Batch evaluation: every customer's memberships computed afresh from the warehouse.

For a new segment over all of history, and to audit real-time membership
(``wayline segments check``). The warehouse gives the events (one Ibis query, on DuckDB or
PostgreSQL alike: the segments' event names, up to ``now``); the state store gives traits
and which ids belong to which customer. Each customer is then evaluated with the same
rules as in real time (:mod:`wayline.segments.evaluate`), segments in dependency order.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

import orjson
import sqlalchemy as sa

from wayline.analytics.warehouse import Warehouse
from wayline.segments.evaluate import Facts, Happening, evaluate
from wayline.segments.membership import in_order
from wayline.segments.spec import event_names, uses_journeys, uses_stages
from wayline.segments.static import static_members
from wayline.store import schema
from wayline.store.segments import SegmentStore, journey_places
from wayline.store.sql import SqlStore


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def warehouse_events_expr(events: Any, workspace_id: str, names: set[str], now: datetime) -> Any:
    """The events segments look at, as an Ibis expression over the ``events`` table."""
    t = events
    mine = t.filter(
        (t.workspace_id == workspace_id)
        & (t["type"] == "track")
        & t.event.isin(sorted(names))
        & (t.timestamp <= now)
    )
    return mine.select(
        "seq", "event", "user_id", "anonymous_id", "timestamp", "properties", "context"
    )


def evaluate_warehouse(
    store: SqlStore,
    warehouse: Warehouse,
    workspace_id: str,
    now: datetime,
    segment_ids: set[str] | None = None,
) -> dict[str, set[str]]:
    """Segment id -> the profile ids that meet it at ``now``, from history alone."""
    seg = SegmentStore(store)
    with store.engine.connect() as conn:
        records = in_order(seg.records(conn, workspace_id))
        p, i = schema.profiles, schema.identities
        facts = {
            row.id: Facts(traits=orjson.loads(row.traits), events={})
            for row in conn.execute(
                sa.select(p.c.id, p.c.traits).where(p.c.workspace_id == workspace_id)
            )
        }
        owner: dict[tuple[str, str], str] = {
            (row.kind, row.value): row.profile_id
            for row in conn.execute(
                sa.select(i.c.kind, i.c.value, i.c.profile_id).where(
                    i.c.workspace_id == workspace_id, i.c.kind.in_(["user_id", "anonymous_id"])
                )
            )
        }
    if any(uses_journeys(r.segment.where) for r in records):
        with store.engine.connect() as conn:
            for someone, places in journey_places(conn, workspace_id, list(facts)).items():
                facts[someone].journeys = places
    if any(uses_stages(r.segment.where) for r in records):
        from wayline.store.stages import stage_places

        with store.engine.connect() as conn:
            for someone, place in stage_places(conn, workspace_id, list(facts)).items():
                facts[someone].stage = place
    names: set[str] = set()
    for r in records:
        names |= event_names(r.segment.where)
    if names:
        expr = warehouse_events_expr(warehouse.table("events"), workspace_id, names, now)
        table = warehouse.execute(expr)
        columns = [
            table.column(name).to_pylist()
            for name in (
                "seq",
                "event",
                "user_id",
                "anonymous_id",
                "timestamp",
                "properties",
                "context",
            )
        ]
        for seq, name, user_id, anonymous_id, at, properties, context in zip(*columns, strict=True):
            profile_id = owner.get(("user_id", user_id or "")) or owner.get(
                ("anonymous_id", anonymous_id or "")
            )
            known = facts.get(profile_id) if profile_id else None
            if known is None:
                continue
            # parsed only if a filter reads it
            raw = b'{"properties":%b,"context":%b}' % (
                (properties or "{}").encode(),
                (context or "{}").encode(),
            )
            known.events.setdefault(name, []).append(
                Happening(name=name, at=_utc(at), seq=seq, raw=raw)
            )
    members: dict[str, set[str]] = defaultdict(set)
    # a static segment's stored list is its truth
    held = static_members(store, workspace_id, records)
    for profile_id, known in facts.items():
        for history in known.events.values():
            history.sort(key=lambda e: (e.at, e.seq))
        for r in records:
            if r.segment.is_static:
                met = profile_id in held[r.segment_id]
            else:
                met = evaluate(r.segment.where, known, now).met
            if met:
                known.members.add(r.segment_id)
                members[r.segment_id].add(profile_id)
    wanted = segment_ids if segment_ids is not None else {r.segment_id for r in records}
    return {
        sid: members.get(sid, set()) for sid in wanted if any(r.segment_id == sid for r in records)
    }
