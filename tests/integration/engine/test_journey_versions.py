"""A new journey version while customers wait inside: they stay on their version, or a
migration moves them as mapped; the plan says exactly what apply does. Both stores."""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from wayline.engine.compile import spec_of
from wayline.engine.migration import apply_version, plan_version
from wayline.engine.versions import MappingInvalid, MigrationRefused
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.store import Store, schema
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine

V1 = """
id: winback
entry: {event: Signed Up}
nodes:
  - id: first_wait
    type: delay
    duration: 1d
    next: hold
  - id: hold
    type: delay
    duration: 2d
    next: tail
  - id: tail
    type: delay
    duration: 1h
    next: done
  - id: done
    type: exit
"""
# first_wait removed, greet added in front, hold unchanged, tail changed, thanks added
V2 = """
id: winback
name: Win back
entry: {event: Signed Up}
nodes:
  - id: greet
    type: delay
    duration: 12h
    next: hold
  - id: hold
    type: delay
    duration: 2d
    next: tail
  - id: tail
    type: delay
    duration: 2h
    next: thanks
  - id: thanks
    type: send
    channel: log
    template: thanks
    next: done
  - id: done
    type: exit
"""
EARLY, LATE = 600, 400


@dataclass
class World:
    store: SqlStore
    clock: ManualClock
    machine: TimeMachine
    workspace: str
    ids: Iterator[int]

    def sign_up(self, users: list[str]) -> None:
        messages = [
            parse_message(
                {
                    "type": "track",
                    "userId": u,
                    "event": "Signed Up",
                    "messageId": f"m{next(self.ids)}",
                },
                received_at=self.clock.now(),
            )
            for u in users
        ]
        self.store.append_events(self.workspace, messages)
        self.machine.settle()

    def track(self, user: str, event: str, **properties: Any) -> None:
        message = {
            "type": "track",
            "userId": user,
            "event": event,
            "properties": properties,
            "messageId": f"m{next(self.ids)}",
        }
        self.store.append_events(
            self.workspace, [parse_message(message, received_at=self.clock.now())]
        )
        self.machine.settle()

    def spec(self, text: str) -> tuple[str, dict[str, Any]]:
        journey = load_journey_text(text, "winback.yaml")
        return journey.name or journey.id, spec_of(journey)

    def apply(self, text: str, **kwargs: Any) -> Any:
        name, spec = self.spec(text)
        return apply_version(self.store, self.workspace, "winback", name, spec, **kwargs)

    def plan(self, text: str, **kwargs: Any) -> Any:
        _, spec = self.spec(text)
        return plan_version(self.store, self.workspace, "winback", spec, **kwargs)

    def instances(self) -> list[Any]:
        t = schema.journey_instances
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(t).order_by(t.c.id)))

    def placed(self) -> Counter[tuple[int, str, str]]:
        return Counter((i.version, i.node, i.state) for i in self.instances())

    def waits(self) -> list[Any]:
        t = schema.journey_waits
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(t).order_by(t.c.instance_id, t.c.kind)))

    def versions(self) -> list[int]:
        t = schema.journey_versions
        with self.store.engine.connect() as conn:
            return list(conn.scalars(sa.select(t.c.version).order_by(t.c.version)))

    def trace(self, user: str, journey: str = "winback") -> list[tuple[str, str, str]]:
        view = self.store.find_profile(self.workspace, user)
        assert view is not None
        steps = JourneyStore(self.store).steps(self.workspace, journey, view.profile.id)
        return [(s.node, s.kind, s.reason) for s in steps]

    def outbox(self) -> list[Any]:
        t = schema.outbox
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(t).order_by(t.c.id)))


@pytest.fixture
def world(store: Store, clock: ManualClock) -> World:
    assert isinstance(store, SqlStore)
    workspace = store.create_workspace("shop").workspace.id
    world = World(
        store=store,
        clock=clock,
        machine=TimeMachine.for_journeys(store, clock),
        workspace=workspace,
        ids=itertools.count(),
    )
    world.apply(V1)
    return world


@pytest.fixture
def waiting(world: World) -> World:
    """1,000 customers inside version 1: 600 at hold, 400 at first_wait."""
    world.sign_up([f"u{n}" for n in range(EARLY)])
    world.machine.advance(hours=25)
    world.sign_up([f"u{n}" for n in range(EARLY, EARLY + LATE)])
    assert world.placed() == {
        (1, "hold", "waiting"): EARLY,
        (1, "first_wait", "waiting"): LATE,
    }
    return world


def _wakes(world: World, node: str) -> dict[int, datetime]:
    return {i.id: i.wake_at for i in world.instances() if i.node == node}


def test_customers_inside_stay_on_their_version_and_finish_it(waiting: World) -> None:
    planned = waiting.plan(V2)
    assert planned.to_json()["inside"] == [
        {"version": 1, "node": "first_wait", "customers": LATE, "in_target": "removed"},
        {"version": 1, "node": "hold", "customers": EARLY, "in_target": "same"},
    ]
    applied = waiting.apply(V2)
    assert applied.to_json() == planned.to_json()
    assert (applied.status, applied.version, applied.moves) == ("new_version", 2, ())
    assert waiting.versions() == [1, 2]
    # nothing moved: every customer inside is still on version 1, where they were
    assert waiting.placed() == {(1, "hold", "waiting"): EARLY, (1, "first_wait", "waiting"): LATE}
    waiting.sign_up(["newcomer"])
    waiting.machine.advance(days=4)
    done = Counter((i.version, i.state, i.outcome) for i in waiting.instances())
    assert done == {(1, "done", "completed"): EARLY + LATE, (2, "done", "completed"): 1}
    # version 1 has no send: only the newcomer, on version 2, was thanked
    newcomer = waiting.store.find_profile(waiting.workspace, "newcomer")
    assert newcomer is not None
    assert [r.profile_id for r in waiting.outbox()] == [newcomer.profile.id]
    assert [n for n, _, _ in waiting.trace("u700")] == ["first_wait"] * 3 + ["hold"] * 2 + [
        "tail"
    ] * 2 + ["done"]


def test_migrate_moves_them_as_mapped_exactly_as_planned(waiting: World) -> None:
    held = _wakes(waiting, "hold")
    planned = waiting.plan(V2, migrate=True, mapping={"first_wait": "greet"})
    assert planned.to_json() == {
        "journey_id": "winback",
        "status": "new_version",
        "version": 2,
        "previous_version": 1,
        "diff": {
            "added": ["greet", "thanks"],
            "removed": ["first_wait"],
            "changed": [{"node": "tail", "fields": ["duration", "next"]}],
            "journey": ["name"],
        },
        "inside": [
            {"version": 1, "node": "first_wait", "customers": LATE, "in_target": "removed"},
            {"version": 1, "node": "hold", "customers": EARLY, "in_target": "same"},
        ],
        "migrate": True,
        "moves": [
            {
                "from_version": 1,
                "from_node": "first_wait",
                "to_node": "greet",
                "customers": LATE,
                "how": "re_enters",
            },
            {
                "from_version": 1,
                "from_node": "hold",
                "to_node": "hold",
                "customers": EARLY,
                "how": "continues",
            },
        ],
        "refused": [],
    }
    moved_at = waiting.clock.now()
    applied = waiting.apply(V2, migrate=True, mapping={"first_wait": "greet"})
    assert applied.to_json() == planned.to_json()
    # what the plan said, row by row: hold kept its wake time, greet is entered now
    assert waiting.placed() == {(2, "hold", "waiting"): EARLY, (2, "greet", "ready"): LATE}
    assert _wakes(waiting, "hold") == held
    waiting.machine.settle()
    greet = _wakes(waiting, "greet")
    assert len(greet) == LATE
    assert set(greet.values()) == {moved_at + timedelta(hours=12)}

    late_trace = waiting.trace("u700")
    assert ("greet", "moved") in [(n, k) for n, k, _ in late_trace]
    (reason,) = [r for _, k, r in late_trace if k == "moved"]
    assert reason == "moved from version 1 node first_wait to version 2 node greet: " + (
        "enters it again now"
    )
    (early_move,) = [r for _, k, r in waiting.trace("u1") if k == "moved"]
    assert early_move.startswith("moved from version 1 node hold to version 2 node hold")

    waiting.machine.advance(days=4)
    done = Counter((i.version, i.state, i.outcome) for i in waiting.instances())
    assert done == {(2, "done", "completed"): EARLY + LATE}
    # everyone went on through version 2: greet -> hold -> tail (2h) -> thanks
    assert len(waiting.outbox()) == EARLY + LATE
    kinds = [(n, k) for n, k, _ in waiting.trace("u700")]
    assert kinds[kinds.index(("greet", "moved")) :] == [
        ("greet", "moved"),
        ("greet", "waiting"),
        ("greet", "passed"),
        ("hold", "waiting"),
        ("hold", "passed"),
        ("tail", "waiting"),
        ("tail", "passed"),
        ("thanks", "queued"),
        ("done", "completed"),
    ]


def test_a_removed_node_with_customers_and_no_target_refuses_and_stores_nothing(
    waiting: World,
) -> None:
    planned = waiting.plan(V2, migrate=True)
    assert [(r.version, r.node, r.customers) for r in planned.refused] == [(1, "first_wait", LATE)]
    with pytest.raises(MigrationRefused) as refused:
        waiting.apply(V2, migrate=True)
    assert "\n" not in str(refused.value)
    assert "'first_wait' (version 1, 400 customers)" in str(refused.value)
    assert waiting.versions() == [1]
    assert waiting.placed() == {(1, "hold", "waiting"): EARLY, (1, "first_wait", "waiting"): LATE}


@pytest.mark.parametrize(
    ("mapping", "says"),
    [
        ({"nowhere": "greet"}, "has no node 'nowhere' in a version before 2"),
        ({"first_wait": "nowhere"}, "version 2 of winback has no node 'nowhere'"),
    ],
)
def test_a_bad_mapping_is_refused_and_stores_nothing(
    world: World, mapping: dict[str, str], says: str
) -> None:
    world.sign_up(["ann"])
    with pytest.raises(MappingInvalid, match=says):
        world.plan(V2, migrate=True, mapping=mapping)
    with pytest.raises(MappingInvalid, match=says):
        world.apply(V2, migrate=True, mapping=mapping)
    with pytest.raises(MappingInvalid, match="needs --migrate"):
        world.apply(V2, mapping={"first_wait": "greet"})
    assert world.versions() == [1]
    assert world.placed() == {(1, "first_wait", "waiting"): 1}


CART_V1 = """
id: cart
entry: {event: Cart Started, key: properties.cart_id}
nodes:
  - id: wait_order
    type: wait_for_event
    event: Order Completed
    match_key: properties.cart_id
    timeout: 2d
    on_event: done
    on_timeout: done
  - id: done
    type: exit
"""
# the wait listens for another event now, and a goal is added
CART_V2 = """
id: cart
entry: {event: Cart Started, key: properties.cart_id}
goal: {event: Checkout Finished, match_key: properties.cart_id}
nodes:
  - id: wait_order
    type: wait_for_event
    event: Checkout Finished
    match_key: properties.cart_id
    timeout: 3d
    on_event: done
    on_timeout: done
  - id: done
    type: exit
"""


def test_a_customer_moved_to_a_changed_wait_listens_for_the_new_event(world: World) -> None:
    first = load_journey_text(CART_V1, "cart.yaml")
    apply_version(world.store, world.workspace, "cart", "cart", spec_of(first))
    world.track("ann", "Cart Started", cart_id="c1")
    world.track("bob", "Cart Started", cart_id="c2")
    world.machine.advance(hours=1)
    assert {(w.kind, w.event) for w in world.waits()} == {("wait", "Order Completed")}
    journey = load_journey_text(CART_V2, "cart.yaml")
    planned = plan_version(
        world.store, world.workspace, "cart", spec_of(journey), migrate=True
    ).to_json()
    assert planned["moves"] == [
        {
            "from_version": 1,
            "from_node": "wait_order",
            "to_node": "wait_order",
            "customers": 2,
            "how": "re_enters",
        }
    ]
    assert planned["diff"]["changed"] == [{"node": "wait_order", "fields": ["event", "timeout"]}]
    assert planned["diff"]["journey"] == ["goal"]
    moved = apply_version(
        world.store, world.workspace, "cart", "cart", spec_of(journey), migrate=True
    )
    assert moved.to_json() == planned
    world.machine.settle()
    # the old event wait is gone; the new wait and the new goal listen for each cart
    assert sorted((w.kind, w.event, w.key_value) for w in world.waits()) == [
        ("goal", "Checkout Finished", "c1"),
        ("goal", "Checkout Finished", "c2"),
        ("wait", "Checkout Finished", "c1"),
        ("wait", "Checkout Finished", "c2"),
    ]
    world.track("ann", "Order Completed", cart_id="c1")  # version 1's event: no effect now
    world.track("ann", "Checkout Finished", cart_id="c1")
    by_key = {i.entry_key: i for i in world.instances()}
    assert (by_key["c1"].version, by_key["c1"].state) == (2, "done")
    assert [k for _, k, _ in world.trace("ann", "cart")] == [
        "entered",
        "waiting",
        "moved",
        "waiting",
        "resumed",
        "goal",
        "passed",
        "completed",
    ]
    # bob's new wait started at the move: 3 days from then, not 2 days from entering
    world.machine.advance(days=2, hours=12)
    assert world.instances()[1].state == "waiting"
    world.machine.advance(days=1)
    assert (world.instances()[1].state, world.instances()[1].outcome) == ("done", "completed")


NUDGE_V1 = """
id: nudger
entry: {event: Cart Started}
nodes:
  - id: nudge
    type: send
    channel: log
    template: nudge
    next: pause
  - id: pause
    type: delay
    duration: 1d
    next: done
  - id: done
    type: exit
"""
NUDGE_V2 = NUDGE_V1.replace("duration: 1d", "duration: 2d")


def test_a_customer_mapped_back_to_a_send_gets_it_again_as_a_new_visit(world: World) -> None:
    first = load_journey_text(NUDGE_V1, "nudger.yaml")
    apply_version(world.store, world.workspace, "nudger", "nudger", spec_of(first))
    world.track("ann", "Cart Started")
    second = load_journey_text(NUDGE_V2, "nudger.yaml")
    mapping = {"pause": "nudge"}
    apply_version(
        world.store, world.workspace, "nudger", "nudger", spec_of(second), migrate=True,
        mapping=mapping,
    )  # fmt: skip
    world.machine.settle()
    assert [r.idempotency_key.rsplit(":", 2)[1:] for r in world.outbox()] == [
        ["nudge", "1"],
        ["nudge", "2"],
    ]
    (inst,) = [i for i in world.instances() if i.journey_id == "nudger"]
    assert (inst.version, inst.node, inst.state) == (2, "pause", "waiting")
    assert inst.wake_at == world.clock.now() + timedelta(days=2)
