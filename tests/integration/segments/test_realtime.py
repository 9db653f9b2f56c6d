"""Memberships follow events and expiring windows, on the manual clock, on both stores."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from wayline.engine.compile import spec_of
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.segments.explain import explain_member
from wayline.segments.lifecycle import apply_segments
from wayline.segments.loading import read_segment_text
from wayline.segments.membership import Membership, in_order
from wayline.segments.store import SegmentStore
from wayline.store import Store, schema
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine


@dataclass
class World:
    store: SqlStore
    clock: ManualClock
    machine: TimeMachine
    workspace: str
    ids: Iterator[int] = field(default_factory=itertools.count)

    def send(self, message: dict[str, Any]) -> None:
        message = {"messageId": f"m{next(self.ids)}", **message}
        self.store.append_events(
            self.workspace, [parse_message(message, received_at=self.clock.now())]
        )
        self.machine.settle()

    def track(self, user: str, event: str, **properties: Any) -> None:
        self.send({"type": "track", "userId": user, "event": event, "properties": properties})

    def identify(self, user: str, **traits: Any) -> None:
        self.send({"type": "identify", "userId": user, "traits": traits})

    def apply(self, *texts: str) -> list[str]:
        segments = [read_segment_text(t).segment for t in texts]
        applied = apply_segments(self.store, self.clock, self.workspace, segments)
        self.machine.settle()
        return [a.state for a in applied]

    def members(self, segment_id: str) -> set[str]:
        seg = SegmentStore(self.store)
        rows = seg.members(self.workspace, segment_id, limit=10_000)
        with self.store.engine.connect() as conn:
            senders = seg.senders(conn, {p for p, _ in rows})
        return {senders[p][0] or "" for p, _ in rows}

    def announced(self) -> list[tuple[str, str, str, datetime]]:
        """(event, userId, segment_id, timestamp) of every segment event in the inbox."""
        t = schema.inbox
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t.c.event, t.c.user_id, t.c.timestamp, t.c.payload)
                .where(t.c.event.in_(["Segment Entered", "Segment Exited"]))
                .order_by(t.c.seq)
            ).all()
        return [
            (
                r.event,
                r.user_id,
                orjson.loads(r.payload)["properties"]["segment_id"],
                r.timestamp
                if r.timestamp.tzinfo
                else r.timestamp.replace(tzinfo=self.clock.now().tzinfo),
            )
            for r in rows
        ]


@pytest.fixture
def world(store: Store, clock: ManualClock) -> World:
    assert isinstance(store, SqlStore)
    workspace = store.create_workspace("shop").workspace.id
    return World(store, clock, TimeMachine.for_segments(store, clock), workspace)


REPEAT = """
id: repeat-buyers
name: Ordered at least twice in 30 days
where: {event: Order Completed, at_least: 2, within: 30d}
"""
ACTIVE = """
id: active
where: {event: Product Viewed, within: 7d}
"""


def test_a_customer_enters_on_the_event_that_qualifies(world: World) -> None:
    world.apply(REPEAT)
    world.track("ann", "Order Completed", total=10)
    assert world.members("repeat-buyers") == set()
    world.clock.advance(hours=1)
    world.track("ann", "Order Completed", total=20)
    assert world.members("repeat-buyers") == {"ann"}
    assert world.announced() == [("Segment Entered", "ann", "repeat-buyers", world.clock.now())]


def test_the_customer_leaves_when_the_window_runs_out(world: World) -> None:
    world.apply(ACTIVE)
    world.track("bob", "Product Viewed")
    viewed = world.clock.now()
    world.machine.advance(days=3)
    world.track("bob", "Product Viewed")
    second = world.clock.now()
    assert world.members("active") == {"bob"}
    world.machine.advance(days=6, hours=23)
    assert world.members("active") == {"bob"}
    world.machine.advance(hours=2)
    assert world.members("active") == set()
    exits = [a for a in world.announced() if a[0] == "Segment Exited"]
    # the second view kept bob in: he leaves 7 days after it, not after the first
    assert exits == [("Segment Exited", "bob", "active", second + timedelta(days=7))]
    assert viewed + timedelta(days=7) < exits[0][3]


def test_a_journey_with_a_segment_entry_enrols_new_members(world: World) -> None:
    world.apply(REPEAT)
    journey = load_journey_text(
        """
id: welcome-repeat
entry: {segment: repeat-buyers}
nodes:
  - {id: done, type: exit}
"""
    )
    JourneyStore(world.store).apply(world.workspace, journey.id, journey.id, spec_of(journey))
    world.track("cat", "Order Completed")
    world.track("cat", "Order Completed")
    world.track("dan", "Order Completed")
    t = schema.journey_instances
    with world.store.engine.connect() as conn:
        entered = conn.execute(sa.select(t.c.profile_id, t.c.journey_id)).all()
    cat = world.store.find_profile(world.workspace, "cat")
    assert cat is not None
    assert entered == [(cat.profile.id, "welcome-repeat")]


def test_a_journey_exits_when_its_customer_enters_a_segment(world: World) -> None:
    world.apply(REPEAT)
    journey = load_journey_text(
        """
id: first-order-follow-up
entry: {event: Order Completed}
re_entry: {policy: once}
exit_when: {segment: repeat-buyers}
nodes:
  - {id: wait, type: delay, duration: 7d, next: done}
  - {id: done, type: exit}
"""
    )
    JourneyStore(world.store).apply(world.workspace, journey.id, journey.id, spec_of(journey))
    world.track("eve", "Order Completed")
    world.track("fay", "Order Completed")
    world.track("eve", "Order Completed")  # eve is a repeat buyer now: she leaves
    t = schema.journey_instances
    with world.store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.profile_id, t.c.state, t.c.outcome)).all()
    eve, fay = (world.store.find_profile(world.workspace, u) for u in ("eve", "fay"))
    assert eve is not None
    assert fay is not None
    assert sorted(rows) == sorted(
        [(eve.profile.id, "done", "exited"), (fay.profile.id, "waiting", None)]
    )


def test_traits_and_other_segments(world: World) -> None:
    states = world.apply(
        """
id: big-spenders
where: {trait: lifetime_revenue, gt: 200}
""",
        """
id: big-german-spenders
where:
  all:
    - {segment: big-spenders}
    - {trait: country, in: [DE, AT, CH]}
""",
    )
    assert states == ["created", "created"]
    world.identify("eve", lifetime_revenue=300, country="DE")
    world.identify("fay", lifetime_revenue=300, country="FR")
    assert world.members("big-german-spenders") == {"eve"}
    world.identify("eve", lifetime_revenue=100)
    assert world.members("big-spenders") == {"fay"}
    assert world.members("big-german-spenders") == set()


def test_a_new_segment_fills_from_history_quietly_and_an_edit_announces(world: World) -> None:
    world.track("gil", "Product Viewed")
    world.track("hal", "Product Viewed")
    world.track("hal", "Product Viewed")
    assert world.apply(ACTIVE) == ["created"]
    assert world.members("active") == {"gil", "hal"}
    assert world.announced() == []
    edited = """
id: active
where: {event: Product Viewed, within: 7d, at_least: 2}
"""
    assert world.apply(edited) == ["changed"]
    assert world.members("active") == {"hal"}
    assert [(a[0], a[1]) for a in world.announced()] == [("Segment Exited", "gil")]
    assert world.apply(edited) == ["unchanged"]


def test_why_a_customer_is_not_a_member(world: World) -> None:
    world.apply(
        """
id: vip
where:
  all:
    - {trait: plan, eq: pro}
    - {event: Order Completed, at_least: 3}
"""
    )
    world.identify("ivy", plan="pro")
    world.track("ivy", "Order Completed")
    view = world.store.find_profile(world.workspace, "ivy")
    assert view is not None
    answer = explain_member(world.store, world.workspace, "vip", view.profile.id, world.clock.now())
    assert answer is not None
    assert answer["member"] is False
    assert answer["decided_by"] == [
        {
            "condition": {"event": "Order Completed", "at_least": 3},
            "met": False,
            "count": 1,
            "last_at": answer["decided_by"][0]["last_at"],
        }
    ]


def test_a_journey_branches_on_segment_membership(world: World) -> None:
    world.apply(REPEAT)
    journey = load_journey_text(
        """
id: thanks
entry: {event: Order Completed}
re_entry: {policy: always}
nodes:
  - id: which
    type: branch
    branches:
      - {when: {segment: repeat-buyers}, next: loyal}
    default: first
  - {id: loyal, type: exit}
  - {id: first, type: exit}
"""
    )
    JourneyStore(world.store).apply(world.workspace, journey.id, journey.id, spec_of(journey))
    world.track("kim", "Order Completed")
    world.clock.advance(minutes=1)
    world.track("kim", "Order Completed")
    t = schema.journey_steps
    with world.store.engine.connect() as conn:
        branched = (
            conn.execute(sa.select(t.c.reason).where(t.c.kind == "branched").order_by(t.c.id))
            .scalars()
            .all()
        )
    assert branched == [
        "no condition held: default",
        "branch 1: in segment repeat-buyers",
    ]


def test_a_merge_brings_the_other_profiles_history_along(world: World) -> None:
    world.apply(REPEAT)
    world.send({"type": "track", "anonymousId": "a1", "event": "Order Completed"})
    world.track("lee", "Order Completed")
    assert world.members("repeat-buyers") == set()
    # an event no segment looks at, but it joins the two profiles: two orders now
    world.send({"type": "track", "userId": "lee", "anonymousId": "a1", "event": "Signed In"})
    assert world.members("repeat-buyers") == {"lee"}


def test_erasing_a_customer_removes_their_memberships(world: World) -> None:
    world.apply(ACTIVE)
    world.track("max", "Product Viewed")
    view = world.store.find_profile(world.workspace, "max")
    assert view is not None
    assert world.members("active") == {"max"}
    world.store.erase_profile(world.workspace, view.profile.id)
    t = schema.segment_changes, schema.segment_members, schema.segment_rechecks
    with world.store.engine.connect() as conn:
        left = [conn.execute(sa.select(sa.func.count()).select_from(x)).scalar() for x in t]
    assert left == [0, 0, 0]


def test_a_customer_enters_when_a_date_trait_grows_old_enough(world: World) -> None:
    world.apply("id: settled\nwhere: {trait: created_at, older_than: 30d}\n")
    signed_up = world.clock.now() - timedelta(days=29, hours=12)
    world.identify("ned", created_at=signed_up.isoformat())
    assert world.members("settled") == set()
    world.machine.advance(hours=11)
    assert world.members("settled") == set()
    world.machine.advance(hours=2)
    assert world.members("settled") == {"ned"}
    assert world.announced() == [
        ("Segment Entered", "ned", "settled", signed_up + timedelta(days=30))
    ]


def test_journey_membership_and_node_follow_the_journey(world: World) -> None:
    journey = load_journey_text(
        """
id: welcome
entry: {event: Signed Up}
nodes:
  - {id: pause, type: delay, duration: 2d, next: done}
  - {id: done, type: exit}
"""
    )
    JourneyStore(world.store).apply(world.workspace, journey.id, journey.id, spec_of(journey))
    world.apply(
        "id: in-welcome\nwhere: {journey: welcome}\n",
        "id: pausing\nwhere: {journey: welcome, node: pause}\n",
        "id: not-in-welcome\nwhere: {not: {journey: welcome}}\n",
    )
    world.track("oli", "Signed Up")
    assert world.members("in-welcome") == {"oli"}
    assert world.members("pausing") == {"oli"}
    assert world.members("not-in-welcome") == set()
    entered = world.clock.now()
    world.machine.advance(days=3)
    assert world.members("in-welcome") == set()
    assert world.members("not-in-welcome") == {"oli"}
    exits = [a for a in world.announced() if a[0] == "Segment Exited" and a[2] != "not-in-welcome"]
    # the customer left the journey when the delay ended, and the segment at that moment
    assert exits == [
        ("Segment Exited", "oli", "in-welcome", entered + timedelta(days=2)),
        ("Segment Exited", "oli", "pausing", entered + timedelta(days=2)),
    ]


def test_a_new_customer_joins_segments_that_hold_without_history(world: World) -> None:
    world.apply("id: never-ordered\nwhere: {not: {event: Order Completed}}\n")
    # an event no segment names: the customer is new, so every segment is evaluated
    world.track("pat", "Signed In")
    assert world.members("never-ordered") == {"pat"}
    world.track("pat", "Order Completed")
    assert world.members("never-ordered") == set()


def test_kept_histories_answer_as_a_fresh_read_would(world: World) -> None:
    world.apply(REPEAT, ACTIVE, "id: few\nwhere: {event: Order Completed, at_most: 2}\n")
    world.track("ann", "Order Completed")
    world.send({"type": "track", "anonymousId": "d1", "event": "Order Completed"})
    world.send({"type": "track", "anonymousId": "d2", "event": "Product Viewed"})
    world.track("ann", "Product Viewed")
    # links without a merge (cara is new), a merge, and an alias
    world.send({"type": "identify", "userId": "cara", "anonymousId": "d2"})
    world.track("cara", "Order Completed")
    world.send({"type": "track", "userId": "ann", "anonymousId": "d1", "event": "Signed In"})
    world.track("dan", "Order Completed")
    world.send({"type": "alias", "previousId": "cara", "userId": "dan"})
    world.track("dan", "Order Completed")
    world.machine.advance(days=8)
    world.track("ann", "Order Completed")
    assert world.members("repeat-buyers")
    # evaluating everyone afresh, from the inbox, changes nothing
    records = in_order(SegmentStore(world.store).segments(world.workspace))
    with world.store.engine.connect() as conn, conn.begin() as txn:
        profiles = SegmentStore(world.store).profile_ids(conn, world.workspace)
        membership = Membership(world.store, world.clock)
        now = world.clock.now()
        assert membership.evaluate(conn, records, world.workspace, profiles, now) == 0
        txn.rollback()
