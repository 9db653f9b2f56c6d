"""A funnel's drop-offs saved as a static segment, and funnels by segment read from the
state store: every pairing of state store (SQLite, PostgreSQL) and warehouse (DuckDB,
PostgreSQL)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.integration.segments.test_realtime import World, world
from wayline.analytics.eventlog import InvalidAnalysis
from wayline.analytics.funnels import Funnel, funnel
from wayline.analytics.loader import WarehouseLoader
from wayline.analytics.segment_members import segment_members
from wayline.analytics.warehouse import Warehouse
from wayline.engine.compile import spec_of
from wayline.journeys import load_journey_text
from wayline.segments.static import SegmentExists, save_dropped
from wayline.segments.store import SegmentStore
from wayline.store import schema
from wayline.store.journeys import JourneyStore

__all__ = ["world"]

ABC = ("A", "B", "C")


def history(world: World, warehouse: Warehouse) -> None:
    """ann converts; bob, dan and an anonymous visitor stop after B; cat after A."""
    for user, steps in (("ann", "ABC"), ("bob", "AB"), ("cat", "A"), ("dan", "AB")):
        for step in steps:
            world.track(user, step)
    for step in "AB":
        world.send({"type": "track", "anonymousId": "visitor-1", "event": step})
    WarehouseLoader(world.store, warehouse, batch_size=1000).drain()


def test_dropped_customers_become_a_static_segment(world: World, warehouse: Warehouse) -> None:
    history(world, warehouse)
    spec = Funnel(steps=ABC)
    saved = save_dropped(
        world.store, world.clock, warehouse, world.workspace, spec, 3, "stalled", "Stalled at C"
    )
    world.machine.settle()
    assert (saved.segment_id, saved.name, saved.dropped, saved.size) == (
        "stalled",
        "Stalled at C",
        3,
        3,
    )
    # the visitor has no userId: a member by their anonymous profile
    assert world.members("stalled") == {"bob", "dan", ""}
    entered = sorted((e, u or "") for e, u, s, _ in world.announced() if s == "stalled")
    assert entered == [
        ("Segment Entered", ""),
        ("Segment Entered", "bob"),
        ("Segment Entered", "dan"),
    ]
    earlier = save_dropped(world.store, world.clock, warehouse, world.workspace, spec, 2, "at-b")
    assert (earlier.dropped, earlier.size, earlier.name) == (1, 1, "at-b")
    assert world.members("at-b") == {"cat"}
    with pytest.raises(SegmentExists):
        save_dropped(world.store, world.clock, warehouse, world.workspace, spec, 2, "stalled")
    with pytest.raises(InvalidAnalysis) as bad:
        save_dropped(world.store, world.clock, warehouse, world.workspace, spec, 4, "later")
    assert bad.value.field == "step"
    assert "later" not in {
        r.segment_id for r in SegmentStore(world.store).segments(world.workspace)
    }


def test_a_journey_entering_on_the_saved_segment_enrols_its_members(
    world: World, warehouse: Warehouse
) -> None:
    history(world, warehouse)
    journey = load_journey_text(
        "id: nudge\nentry: {segment: stalled}\nnodes:\n  - {id: done, type: exit}\n"
    )
    JourneyStore(world.store).apply(world.workspace, journey.id, journey.id, spec_of(journey))
    save_dropped(
        world.store, world.clock, warehouse, world.workspace, Funnel(steps=ABC), 3, "stalled"
    )
    world.machine.settle()
    t = schema.journey_instances
    with world.store.engine.connect() as conn:
        enrolled = set(conn.scalars(sa.select(t.c.profile_id).where(t.c.journey_id == "nudge")))
    members = SegmentStore(world.store).members(world.workspace, "stalled", limit=100)
    assert enrolled == {p for p, _ in members}
    assert len(enrolled) == 3


def test_a_funnel_by_segment_reads_memberships_from_the_store(
    world: World, warehouse: Warehouse
) -> None:
    history(world, warehouse)
    world.apply("id: orderers\nwhere: {event: C}\n")
    save_dropped(
        world.store, world.clock, warehouse, world.workspace, Funnel(steps=ABC), 3, "stalled"
    )
    spec = Funnel(steps=ABC, breakdown="segment")
    members = segment_members(world.store, world.workspace, spec.segments or ())
    steps = funnel(warehouse, world.workspace, spec, members)
    got: dict[str, list[int]] = {}
    for r in steps.itertuples():
        got.setdefault(str(r.breakdown), []).append(int(r.customers))
    assert got == {"stalled": [3, 3, 0], "orderers": [1, 1, 1], "(none)": [1, 0, 0]}
    with pytest.raises(InvalidAnalysis) as bad:
        segment_members(world.store, world.workspace, ("stalled", "nope"))
    assert bad.value.field == "breakdown"
