"""Customers' stages follow their events on the manual clock, on both stores: each change
is a Stage Entered event dated at the event that caused it, and none is announced twice."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.integration.stages.world import MODEL, World
from wayline.analytics.stage_model import StageModelError
from wayline.stages.lifecycle import apply_stage_model
from wayline.stages.store import StageStore
from wayline.stages.tracker import StageTracker
from wayline.store import schema


def test_each_change_of_stage_is_announced_at_the_event_that_caused_it(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, MODEL)
    start = world.clock.now()
    world.track("ann", "Page Viewed")
    assert world.stage("ann") == "awareness"
    world.clock.advance(hours=2)
    world.track("ann", "Product Viewed")
    world.clock.advance(hours=1)
    world.track("ann", "Product Viewed")  # already there: nothing new
    world.clock.advance(days=1)
    world.track("ann", "Order Completed", total=0)  # not a purchase by the model
    assert world.stage("ann") == "consideration"
    world.track("ann", "Order Completed", total=20)
    assert world.stage("ann") == "purchase"
    bought = world.clock.now()
    assert world.announced() == [
        ("ann", "awareness", None, None, start),
        ("ann", "consideration", "awareness", 7200.0, start.replace(hour=2)),
        ("ann", "purchase", "consideration", 90000.0, bought),
    ]


def test_an_identify_with_the_traits_places_the_customer(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, MODEL)
    world.track("bob", "Page Viewed")
    world.clock.advance(days=3)
    world.identify("bob", nps_group="detractor")
    assert world.stage("bob") == "awareness"
    world.identify("bob", nps_group="promoter")
    assert world.stage("bob") == "advocacy"
    assert [a[1:3] for a in world.announced()] == [
        ("awareness", None),
        ("advocacy", "awareness"),
    ]


def test_stages_passed_in_one_batch_are_each_announced_in_time_order(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, MODEL)
    world.track("cy", "Page Viewed", settle=False)
    world.clock.advance(minutes=5)
    world.track("cy", "Checkout Started", settle=False)
    world.clock.advance(minutes=5)
    world.track("cy", "Order Completed", total=5, settle=False)
    world.machine.settle()
    assert [a[1:4] for a in world.announced()] == [
        ("awareness", None, None),
        ("decision", "awareness", 300.0),
        ("purchase", "decision", 300.0),
    ]


def test_no_change_is_announced_twice_after_a_restart(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, MODEL)
    world.track("dee", "Page Viewed")
    world.track("dee", "Product Viewed", settle=False)
    # the changes are saved but the process stops before announcing them
    tracker = StageTracker(world.store, world.clock)
    tracker.announce = lambda limit=1000: 0  # type: ignore[method-assign]
    from wayline.testing import drain_profiles

    drain_profiles(world.store)
    tracker.step()
    # a new process: its tracker announces what is pending, and nothing again
    world.machine.settle()
    again = StageTracker(world.store, world.clock)
    again.step()
    with world.store.engine.connect() as conn:
        conn.execute(sa.update(schema.stage_changes).values(pending=True))
        conn.commit()
    again.step()  # announcing again after a crash adds nothing twice (same message ids)
    world.machine.settle()
    assert [a[1] for a in world.announced()] == ["awareness", "consideration"]


def test_a_new_model_places_customers_from_history_without_events(world: World) -> None:
    first = world.clock.now()
    world.track("eve", "Page Viewed")
    world.clock.advance(days=1)
    world.track("eve", "Order Completed", total=10)
    world.clock.advance(days=1)
    world.track("fay", "Product Viewed")
    applied = apply_stage_model(world.store, world.clock, world.workspace, MODEL)
    assert (applied.state, applied.placed) == ("created", 2)
    world.machine.settle()
    assert world.stage("eve") == "purchase"
    assert world.stage("fay") == "consideration"
    assert world.announced() == []
    profile = world.store.find_profile(world.workspace, "eve")
    assert profile is not None
    place = StageStore(world.store).place(world.workspace, profile.profile.id)
    assert place is not None
    assert (place.entered_at, place.previous_stage) == (first.replace(day=2), "awareness")
    stored = StageStore(world.store).model(world.workspace)
    assert stored is not None
    assert stored.typical == {"awareness": 86400.0}
    # from now on, changes are announced
    world.track("fay", "Order Completed", total=3)
    assert [a[:3] for a in world.announced()] == [("fay", "purchase", "consideration")]


def test_an_edited_model_re_places_customers_quietly(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, MODEL)
    world.track("gus", "Product Viewed")
    before = len(world.announced())
    edited = MODEL.replace("events: [Product Viewed]", "events: [Product Added]")
    applied = apply_stage_model(world.store, world.clock, world.workspace, edited)
    assert (applied.version, applied.state) == (2, "changed")
    world.machine.settle()
    assert world.stage("gus") is None
    assert len(world.announced()) == before


def test_an_invalid_model_is_refused_with_its_line(world: World) -> None:
    with pytest.raises(StageModelError, match=r"<stages>:2:5: stages\[0\]"):
        apply_stage_model(world.store, world.clock, world.workspace, "stages:\n  - nam: x\n")
    assert StageStore(world.store).model(world.workspace) is None


def test_erasing_a_customer_removes_their_stage_and_changes(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, MODEL)
    world.track("ivy", "Product Viewed")
    view = world.store.find_profile(world.workspace, "ivy")
    assert view is not None
    world.store.erase_profile(world.workspace, view.profile.id)
    stages = StageStore(world.store)
    assert stages.place(world.workspace, view.profile.id) is None
    assert stages.history(world.workspace, view.profile.id) == []


def test_a_merged_profile_gives_its_stage_to_the_survivor(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, MODEL)
    world.send({"type": "track", "anonymousId": "visitor", "event": "Checkout Started"})
    world.track("jo", "Page Viewed")
    world.send({"type": "identify", "userId": "jo", "anonymousId": "visitor"})
    assert world.stage("jo") == "decision"
    with world.store.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.customer_stages.c.profile_id)).all()
    assert len(rows) == 1
