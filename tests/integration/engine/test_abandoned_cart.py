"""The issue's abandoned-cart journey, every path, on the manual clock, on both stores."""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import sqlalchemy as sa

from tests.unit.journeys.example import EXAMPLE
from wayline.engine.compile import spec_of
from wayline.events import parse_message
from wayline.journeys import load_journey_text
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
    ids: Iterator[int]

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

    def instances(self) -> list[Any]:
        t = schema.journey_instances
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(t).order_by(t.c.id)))

    def outbox(self) -> list[Any]:
        t = schema.outbox
        with self.store.engine.connect() as conn:
            return list(conn.execute(sa.select(t).order_by(t.c.id)))

    def trace(self, user: str) -> list[tuple[str, str]]:
        view = self.store.find_profile(self.workspace, user)
        assert view is not None
        steps = JourneyStore(self.store).steps(self.workspace, "abandoned-cart", view.profile.id)
        return [(s.node, s.kind) for s in steps]


@pytest.fixture
def world(store: Store, clock: ManualClock) -> World:
    assert isinstance(store, SqlStore)
    workspace = store.create_workspace("shop").workspace.id
    journey = load_journey_text(EXAMPLE, "abandoned-cart.yaml")
    JourneyStore(store).apply(workspace, journey.id, journey.name or journey.id, spec_of(journey))
    machine = TimeMachine.for_journeys(store, clock)
    return World(
        store=store,
        clock=clock,
        machine=machine,
        workspace=workspace,
        ids=itertools.count(),
    )


def test_order_within_the_hour_sends_nothing(world: World) -> None:
    world.track("ann", "Product Added", cart_id="c1", price=30)
    world.machine.advance(minutes=20)
    world.track("ann", "Order Completed", cart_id="c1")
    world.machine.advance(days=2)
    (inst,) = world.instances()
    assert (inst.state, inst.outcome) == ("done", "goal")
    assert world.outbox() == []
    assert world.trace("ann") == [
        ("wait_checkout", "entered"),
        ("wait_checkout", "waiting"),
        ("wait_checkout", "resumed"),
        ("wait_checkout", "goal"),
    ]


def test_cheap_items_do_not_enter(world: World) -> None:
    world.track("ann", "Product Added", cart_id="c1", price=5)
    assert world.instances() == []


def test_timeout_calls_the_webhook_then_sends_the_reminder(world: World) -> None:
    world.track("bob", "Product Added", cart_id="c2", price=30)
    world.machine.advance(minutes=59)
    assert world.outbox() == []
    world.machine.advance(minutes=2)
    hook, reminder = world.outbox()
    assert hook.channel == "webhook"
    assert orjson.loads(hook.payload)["body"] == {"cart": "c2", "user": "bob"}
    assert (reminder.channel, orjson.loads(reminder.payload)["template"]) == (
        "email",
        "cart-reminder",
    )
    (inst,) = world.instances()
    assert (inst.state, inst.node) == ("waiting", "wait_a_day")


def test_an_order_for_another_cart_does_not_resume_the_wait(world: World) -> None:
    world.track("cy", "Product Added", cart_id="c3", price=30)
    world.track("cy", "Order Completed", cart_id="some-other-cart")
    world.machine.advance(hours=2)
    assert [r.channel for r in world.outbox()] == ["webhook", "email"]


def test_after_a_day_without_opens_the_split_decides(world: World) -> None:
    world.track("dee", "Product Added", cart_id="c4", price=30)
    world.machine.advance(days=2)
    (inst,) = world.instances()
    assert inst.state == "done"
    variant = orjson.loads(inst.context)["variants"]["split"]
    templates = [
        orjson.loads(r.payload)["template"] for r in world.outbox() if r.channel == "email"
    ]
    assert templates == (
        ["cart-reminder", "cart-discount"] if variant == "discount" else ["cart-reminder"]
    )
    assert ("opened", "branched") in world.trace("dee")


def test_the_goal_exits_early(world: World) -> None:
    world.track("eve", "Product Added", cart_id="c5", price=30)
    world.machine.advance(hours=3)  # reminder sent, waiting a day
    world.track("eve", "Order Completed", cart_id="c5")
    (inst,) = world.instances()
    assert (inst.state, inst.outcome, inst.node) == ("done", "goal", "wait_a_day")
    world.machine.advance(days=2)
    assert [r.channel for r in world.outbox()] == ["webhook", "email"]  # nothing after


def test_cooldown_blocks_re_entry_for_seven_days_and_not_longer(world: World) -> None:
    world.track("fay", "Product Added", cart_id="c6", price=30)
    world.track("fay", "Order Completed", cart_id="c6")  # done within minutes
    world.machine.advance(days=6)
    world.track("fay", "Product Added", cart_id="c6", price=30)
    assert len(world.instances()) == 1
    world.machine.advance(days=1, minutes=1)
    world.track("fay", "Product Added", cart_id="c6", price=30)
    assert len(world.instances()) == 2


def test_control_group_receives_nothing(world: World) -> None:
    for i in range(60):
        world.track(f"u{i}", "Product Added", cart_id=f"cart-{i}", price=30)
    world.machine.advance(days=2)
    by_variant: dict[str, list[str]] = {}
    for inst in world.instances():
        variant = orjson.loads(inst.context)["variants"]["split"]
        by_variant.setdefault(variant, []).append(inst.profile_id)
    assert set(by_variant) <= {"discount", "no_discount", "control"}
    discount_sent = {
        r.profile_id
        for r in world.outbox()
        if r.channel == "email" and orjson.loads(r.payload)["template"] == "cart-discount"
    }
    assert discount_sent == set(by_variant.get("discount", []))
    for profile in by_variant.get("control", []):
        assert profile not in discount_sent


#: The issue's split: 45 / 45 / 10 over this many customers.
SPLIT_CUSTOMERS = 10_000


def test_split_counts_hold_the_weights_over_ten_thousand_customers(world: World) -> None:
    for start in range(0, SPLIT_CUSTOMERS, 1000):
        world.store.append_events(
            world.workspace,
            [
                parse_message(
                    {
                        "type": "track",
                        "userId": f"s{i}",
                        "event": "Product Added",
                        "properties": {"cart_id": f"cart-{i}", "price": 30},
                        "messageId": f"split-{i}",
                    },
                    received_at=world.clock.now(),
                )
                for i in range(start, start + 1000)
            ],
        )
    world.machine.advance(days=2)
    instances = world.instances()
    assert len(instances) == SPLIT_CUSTOMERS
    assert {i.outcome for i in instances} == {"completed"}
    counts = Counter(orjson.loads(i.context)["variants"]["split"] for i in instances)
    for variant, weight in {"discount": 0.45, "no_discount": 0.45, "control": 0.10}.items():
        expected = SPLIT_CUSTOMERS * weight
        sd = math.sqrt(SPLIT_CUSTOMERS * weight * (1 - weight))
        # 4.5 standard deviations: a correct split fails this about once in 150,000 runs
        assert abs(counts[variant] - expected) < 4.5 * sd, counts
    discount = {
        r.profile_id
        for r in world.outbox()
        if orjson.loads(r.payload).get("template") == "cart-discount"
    }
    by_profile = {i.profile_id: orjson.loads(i.context)["variants"]["split"] for i in instances}
    assert discount == {p for p, v in by_profile.items() if v == "discount"}
    assert len(discount) == counts["discount"]
