"""Segments on stages: ``{stage: X}`` follows the stage tracker, ``stalled: true`` takes a
customer in at the very moment they become stalled, on the manual clock, on both stores;
evaluation afresh from history agrees."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.stages.world import MODEL, World
from wayline.analytics.stage_model import StageModelError
from wayline.analytics.warehouse import Warehouse
from wayline.segments.batch import evaluate_warehouse
from wayline.segments.explain import explain_member
from wayline.segments.lifecycle import evaluate_afresh
from wayline.stages.lifecycle import apply_stage_model
from wayline.stages.store import StageStore

CONSIDERING = """
id: considering
where: {stage: consideration}
"""
STALLED = """
id: stalled-considering
where: {stage: consideration, stalled: true}
"""
BUYERS = """
id: buyers
where: {stage: [purchase, retention]}
"""
# consideration stalls after 5 days here
STALLING = MODEL.replace(
    "    events: [Product Viewed]\n", "    events: [Product Viewed]\n    stall_after: 5d\n"
)


def test_members_follow_the_current_stage(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, STALLING)
    world.apply_segments(CONSIDERING, BUYERS)
    world.track("ann", "Product Viewed")
    viewed = world.clock.now()
    assert world.members("considering") == {"ann"}
    world.clock.advance(hours=3)
    world.track("ann", "Order Completed", total=12)
    bought = world.clock.now()
    assert world.members("considering") == set()
    assert world.members("buyers") == {"ann"}
    assert world.segment_events() == [
        ("Segment Entered", "ann", "considering", viewed),
        ("Segment Exited", "ann", "considering", bought),
        ("Segment Entered", "ann", "buyers", bought),
    ]


def test_a_customer_enters_stalled_at_the_moment_they_stall(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, STALLING)
    world.apply_segments(STALLED)
    world.track("bob", "Product Viewed")
    viewed = world.clock.now()
    world.machine.advance(days=4, hours=23)
    assert world.members("stalled-considering") == set()
    world.machine.advance(hours=2)
    assert world.members("stalled-considering") == {"bob"}
    assert world.segment_events() == [
        ("Segment Entered", "bob", "stalled-considering", viewed + timedelta(days=5))
    ]
    # moving on ends the stall
    world.track("bob", "Checkout Started")
    assert world.members("stalled-considering") == set()


def test_stall_factor_uses_the_typical_time_from_history(world: World) -> None:
    # two customers took 1 day from consideration to decision: typical 1 day, stalled at 3
    for user in ("c1", "c2"):
        world.track(user, "Product Viewed")
    world.clock.advance(days=1)
    for user in ("c1", "c2"):
        world.track(user, "Checkout Started")
    apply_stage_model(world.store, world.clock, world.workspace, MODEL)
    world.apply_segments(STALLED)
    world.track("dan", "Product Viewed")
    viewed = world.clock.now()
    world.machine.advance(days=4)
    assert world.members("stalled-considering") == {"dan"}
    assert world.segment_events() == [
        ("Segment Entered", "dan", "stalled-considering", viewed + timedelta(days=3))
    ]


def test_evaluation_afresh_agrees_with_real_time(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, STALLING)
    world.apply_segments(CONSIDERING, STALLED, BUYERS)
    world.track("eve", "Product Viewed")
    world.track("fay", "Product Viewed")
    world.machine.advance(days=6)
    world.track("fay", "Order Completed", total=1)
    world.track("gus", "Product Viewed")
    fresh = evaluate_afresh(world.store, world.workspace, world.clock.now())
    for segment_id, members in fresh.items():
        assert {world.user_of(p) for p in members} == world.members(segment_id)
    assert world.members("stalled-considering") == {"eve"}
    assert world.members("considering") == {"eve", "gus"}


def test_why_shows_the_customers_stage(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, STALLING)
    world.apply_segments(BUYERS)
    world.track("hal", "Product Viewed")
    view = world.store.find_profile(world.workspace, "hal")
    assert view is not None
    why = explain_member(world.store, world.workspace, "buyers", view.profile.id, world.clock.now())
    assert why is not None
    assert (why["met"], why["conditions"]["stage"]) == (False, "consideration")


def test_batch_evaluation_in_the_warehouse_agrees(world: World, warehouse: Warehouse) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, STALLING)
    world.apply_segments(CONSIDERING, STALLED, BUYERS)
    world.track("eve", "Product Viewed")
    world.track("fay", "Product Viewed")
    world.machine.advance(days=6)
    world.track("fay", "Order Completed", total=1)
    world.track("gus", "Product Viewed")
    batch = evaluate_warehouse(world.store, warehouse, world.workspace, world.clock.now())
    assert {sid: {world.user_of(p) for p in members} for sid, members in batch.items()} == {
        "considering": {"eve", "gus"},
        "stalled-considering": {"eve"},
        "buyers": {"fay"},
    }


def test_a_model_cannot_drop_a_stage_that_segments_use(world: World) -> None:
    apply_stage_model(world.store, world.clock, world.workspace, STALLING)
    world.apply_segments(CONSIDERING, BUYERS)
    world.track("ann", "Product Viewed")
    renamed = STALLING.replace("- name: consideration", "- name: considering")
    assert renamed != STALLING
    with pytest.raises(StageModelError) as raised:
        apply_stage_model(world.store, world.clock, world.workspace, renamed, "stages.yaml")
    assert str(raised.value) == (
        "stages.yaml: the model drops stages that segments use (segment 'considering' "
        "uses 'consideration'); change those segments first"
    )
    # nothing changed: the model, nor the customer's place
    stored = StageStore(world.store).model(world.workspace)
    assert stored is not None
    assert "consideration" in stored.model.names
    assert world.members("considering") == {"ann"}
    # once no segment names it, the stage can go
    world.apply_segments(CONSIDERING.replace("consideration", "[awareness]"))
    apply_stage_model(world.store, world.clock, world.workspace, renamed, "stages.yaml")
