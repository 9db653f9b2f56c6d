"""Static segments on both stores: members added and removed by hand are announced, enrol
journeys, feed the segments that refer to them, and are the truth for batch evaluation."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.integration.segments.test_realtime import World, world
from wayline.analytics.warehouse import Warehouse
from wayline.engine.compile import spec_of
from wayline.errors import SegmentInvalid, SegmentNotFound
from wayline.journeys import load_journey_text
from wayline.segments.audit import audit
from wayline.segments.batch import evaluate_warehouse
from wayline.segments.explain import explain_member
from wayline.segments.loading import read_segment_text
from wayline.segments.static import (
    SegmentExists,
    SegmentNotStatic,
    change_members,
    create_static,
    profiles_of,
    static_segment,
)
from wayline.store import schema
from wayline.store.journeys import JourneyStore

__all__ = ["world"]

PICKED = """
id: picked
name: Picked by hand
static: true
"""
PICKED_BUYERS = """
id: picked-buyers
where:
  all:
    - {segment: picked}
    - {event: Order Completed}
"""


def profile(world: World, user: str) -> str:
    view = world.store.find_profile(world.workspace, user)
    assert view is not None
    return view.profile.id


def change(world: World, *users: str, add: bool = True) -> int:
    ids = [profile(world, u) for u in users]
    done = change_members(world.store, world.clock, world.workspace, "picked", ids, add=add)
    world.machine.settle()
    return done.changed


def test_members_added_and_removed_by_hand_are_announced(world: World) -> None:
    for user in ("ann", "bob", "cat"):
        world.track(user, "Product Viewed")
    assert world.apply(PICKED) == ["created"]
    assert world.members("picked") == set()
    assert change(world, "ann", "bob") == 2
    assert change(world, "ann") == 0  # already a member: nothing twice
    assert world.members("picked") == {"ann", "bob"}
    # their own events change nothing: the list is kept by hand
    world.track("ann", "Order Completed")
    world.identify("cat", plan="pro")
    assert world.members("picked") == {"ann", "bob"}
    assert change(world, "bob", "cat", add=False) == 1
    assert world.members("picked") == {"ann"}
    announced = [(e, u, s) for e, u, s, _ in world.announced()]
    assert sorted(announced) == [
        ("Segment Entered", "ann", "picked"),
        ("Segment Entered", "bob", "picked"),
        ("Segment Exited", "bob", "picked"),
    ]


def test_segments_that_refer_to_it_follow(world: World) -> None:
    world.track("ann", "Order Completed")
    world.track("bob", "Product Viewed")
    world.apply(PICKED)
    world.apply(PICKED_BUYERS)
    change(world, "ann", "bob")
    assert world.members("picked-buyers") == {"ann"}
    world.track("bob", "Order Completed")
    assert world.members("picked-buyers") == {"ann", "bob"}
    change(world, "ann", add=False)
    assert world.members("picked-buyers") == {"bob"}
    assert ("Segment Exited", "ann", "picked-buyers") in [
        (e, u, s) for e, u, s, _ in world.announced()
    ]


def test_a_journey_entering_on_it_enrols_the_members_added(world: World) -> None:
    world.track("ann", "Product Viewed")
    world.track("bob", "Product Viewed")
    world.apply(PICKED)
    journey = load_journey_text(
        "id: win-back\nentry: {segment: picked}\nnodes:\n  - {id: done, type: exit}\n"
    )
    JourneyStore(world.store).apply(world.workspace, journey.id, journey.id, spec_of(journey))
    change(world, "ann")
    t = schema.journey_instances
    with world.store.engine.connect() as conn:
        entered = conn.execute(sa.select(t.c.profile_id, t.c.journey_id)).all()
    assert entered == [(profile(world, "ann"), "win-back")]


def test_batch_evaluation_takes_the_stored_list_as_truth(world: World) -> None:
    world.track("ann", "Order Completed")
    world.track("bob", "Order Completed")
    world.apply(PICKED, PICKED_BUYERS)
    change(world, "ann")
    report = {d.segment_id: d for d in audit(world.store, world.workspace, world.clock.now())}
    assert (report["picked"].agree, report["picked"].batch) == (True, 1)
    assert (report["picked-buyers"].agree, report["picked-buyers"].batch) == (True, 1)
    why = explain_member(
        world.store, world.workspace, "picked", profile(world, "ann"), world.clock.now()
    )
    assert why is not None
    assert (why["member"], why["met"], why["static"]) == (True, True, True)


def test_an_edit_keeps_the_list(world: World) -> None:
    world.track("ann", "Product Viewed")
    world.apply(PICKED)
    change(world, "ann")
    assert world.apply(PICKED.replace("Picked by hand", "Hand-picked")) == ["changed"]
    assert world.members("picked") == {"ann"}


def test_a_merge_passes_the_membership_to_the_surviving_profile(world: World) -> None:
    world.send({"type": "track", "anonymousId": "a1", "event": "Product Viewed"})
    world.track("lee", "Order Completed")
    world.track("max", "Order Completed")
    world.apply(PICKED, PICKED_BUYERS)
    visitor = world.store.find_profile(world.workspace, "a1")
    assert visitor is not None
    change_members(
        world.store, world.clock, world.workspace, "picked", [visitor.profile.id], add=True
    )
    world.machine.settle()
    # the visitor signs in as lee (the two profiles merge), and max was picked before
    change(world, "max")
    world.send({"type": "track", "userId": "lee", "anonymousId": "a1", "event": "Signed In"})
    # the visitor's profile is the one merged away
    assert profile(world, "lee") != visitor.profile.id
    assert world.members("picked") == {"lee", "max"}
    # and the segments that refer to it see the survivor's orders
    assert world.members("picked-buyers") == {"lee", "max"}
    # the customer did not newly enter: nothing is announced for the survivor
    announced = [(e, u, s) for e, u, s, _ in world.announced() if s == "picked"]
    assert ("Segment Entered", "lee", "picked") not in announced


def test_only_a_static_segment_changes_by_hand(world: World) -> None:
    world.track("ann", "Order Completed")
    world.apply(PICKED_BUYERS.replace("- {segment: picked}\n    ", ""))
    with pytest.raises(SegmentNotStatic):
        change_members(world.store, world.clock, world.workspace, "picked-buyers", [], add=True)
    with pytest.raises(SegmentNotFound):
        change_members(world.store, world.clock, world.workspace, "nope", [], add=True)


def test_create_static_refuses_a_taken_id(world: World) -> None:
    create_static(world.store, world.clock, world.workspace, static_segment("picked", None))
    with pytest.raises(SegmentExists):
        create_static(world.store, world.clock, world.workspace, static_segment("picked", "x"))
    with pytest.raises(SegmentInvalid) as bad:
        static_segment("not ok!", None)
    assert bad.value.problems[0].path == "id"


def test_customers_are_found_by_profile_id_or_user_id(world: World) -> None:
    world.track("ann", "Product Viewed")
    ann = profile(world, "ann")
    with world.store.engine.connect() as conn:
        found = profiles_of(conn, world.workspace, [ann, "ann", "zed"], ("profile", "user_id"))
    assert found == {ann: ann, "ann": ann}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("id: x\nstatic: true\nwhere: {event: A}\n", "a static segment has no where"),
        ("id: x\nname: y\n", "missing field 'where'"),
        ("id: x\nstatic: yes please\n", "static"),
    ],
)
def test_a_static_segment_has_no_where(text: str, message: str) -> None:
    with pytest.raises(SegmentInvalid) as bad:
        read_segment_text(text, "s.yaml")
    assert message in str(bad.value.problems[0])


def test_batch_evaluation_in_the_warehouse_takes_the_stored_list(
    world: World, warehouse: Warehouse
) -> None:
    world.track("ann", "Product Viewed")
    world.track("bob", "Product Viewed")
    world.apply(PICKED, "id: not-picked\nwhere: {not: {segment: picked}}\n")
    change(world, "ann")
    batch = evaluate_warehouse(world.store, warehouse, world.workspace, world.clock.now())
    assert batch == {
        "picked": {profile(world, "ann")},
        "not-picked": {profile(world, "bob")},
    }
