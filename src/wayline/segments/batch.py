"""Batch evaluation: every customer's memberships computed afresh, inside the warehouse.

For a new segment over all of history, and to audit real-time membership
(``wayline segments check``). The state store's customers (traits, the ids that belong to
each, journey places) are read in bulk and taken into the warehouse as in-memory tables
(:mod:`wayline.segments.population`); the segments are compiled to one Ibis query over
them and the ``events`` table (:mod:`wayline.segments.compile`), on DuckDB or PostgreSQL
alike, with the same rules as real time (:mod:`wayline.segments.evaluate`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from itertools import compress
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
import sqlalchemy as sa

from wayline.analytics.warehouse import Warehouse
from wayline.segments.compile import Compiler
from wayline.segments.membership import in_order
from wayline.segments.population import Population, read_population
from wayline.segments.spec import (
    SubscriptionCondition,
    TraitCondition,
    event_names,
    uses_journeys,
    uses_stages,
    walk,
)
from wayline.segments.static import static_members
from wayline.segments.store import SegmentStore
from wayline.store.sql import SqlStore


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


def uses_traits(condition: Any) -> bool:
    """Whether the condition reads traits (trait and subscription conditions)."""
    return any(isinstance(c, TraitCondition | SubscriptionCondition) for _, c in walk(condition))


def _ids(population: Population, kind: str, prefix: str) -> Any:
    ids = population.identities
    mine = ids.filter(pc.equal(ids.column("kind"), kind))
    return ibis.memtable(
        pa.table(
            {
                f"{prefix}_value": mine.column("value"),
                f"{prefix}_profile": mine.column("profile_id"),
            }
        )
    )


def owner(population: Population) -> Callable[[Any], Any]:
    """A table with ``user_id`` and ``anonymous_id`` -> the same rows with the profile they
    belong to (by user id, else anonymous id), without those of no known customer."""
    users, anonymous = _ids(population, "user_id", "u"), _ids(population, "anonymous_id", "a")

    def owned(table: Any) -> Any:
        joined = table.left_join(users, table.user_id == users.u_value).left_join(
            anonymous, table.anonymous_id == anonymous.a_value
        )
        found = joined.mutate(profile_id=joined.u_profile.coalesce(joined.a_profile)).drop(
            "u_value", "u_profile", "a_value", "a_profile"
        )
        return found.filter(found.profile_id.notnull())

    return owned


def _profiles(ids: Iterable[str]) -> Any:
    return ibis.memtable(pa.table({"profile_id": pa.array(sorted(ids), pa.string())}))


def _stages(store: SqlStore, workspace_id: str) -> Any:
    """Every customer's current stage and the moment they stall in it (null: never)."""
    from wayline.stages.store import read_models
    from wayline.store import schema

    c = schema.customer_stages
    with store.engine.connect() as conn:
        stored = read_models(conn, workspace_id).get(workspace_id)
        rows = (
            conn.execute(
                sa.select(c.c.profile_id, c.c.stage, c.c.entered_at).where(
                    c.c.workspace_id == workspace_id
                )
            ).all()
            if stored is not None
            else []
        )
    thresholds = (
        {stage: stored.stall_after(stage) for stage in {r.stage for r in rows}} if stored else {}
    )
    stalls: list[datetime | None] = []
    for r in rows:
        after = thresholds.get(r.stage)
        # naive UTC, as the warehouse keeps its times
        stalls.append(None if after is None else (_utc(r.entered_at) + after).replace(tzinfo=None))
    return ibis.memtable(
        pa.table(
            {
                "profile_id": pa.array([r.profile_id for r in rows], pa.string()),
                "stage": pa.array([r.stage for r in rows], pa.string()),
                "stalls_at": pa.array(stalls, pa.timestamp("us")),
            }
        )
    )


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def evaluate_warehouse(
    store: SqlStore,
    warehouse: Warehouse,
    workspace_id: str,
    now: datetime,
    segment_ids: set[str] | None = None,
) -> dict[str, set[str]]:
    """Segment id -> the profile ids that meet it at ``now``, from history alone."""
    with store.engine.connect() as conn:
        records = in_order(SegmentStore(store).records(conn, workspace_id))
    wanted = [r.segment_id for r in records if segment_ids is None or r.segment_id in segment_ids]
    if not wanted:
        return {}
    conditions = [r.segment.where for r in records if r.segment.where is not None]
    population = read_population(
        store,
        workspace_id,
        traits=any(uses_traits(c) for c in conditions),
        journeys=any(uses_journeys(c) for c in conditions),
    )
    names: set[str] = set()
    for r in records:
        names |= event_names(r.segment.where)
    people = ibis.memtable(population.profiles)
    compiler = Compiler(
        warehouse=warehouse,
        people=people.mutate(traits=people.traits.cast("json")),
        events=warehouse_events_expr(warehouse.table("events"), workspace_id, names, now),
        owned=owner(population),
        places=ibis.memtable(population.places),
        now=now,
        segments={r.segment_id: r.segment.where for r in records if not r.segment.is_static},
        stages=(_stages(store, workspace_id) if any(uses_stages(c) for c in conditions) else None),
        static={
            sid: _profiles(members)
            for sid, members in static_members(store, workspace_id, records).items()
        },
    )
    result = warehouse.execute(compiler.members(wanted))
    # each id becomes a Python string once, shared by every segment's set
    profile_ids = result.column("profile_id").to_pylist()
    return {
        sid: set(compress(profile_ids, result.column(f"s{i}").to_numpy()))
        for i, sid in enumerate(wanted)
    }
