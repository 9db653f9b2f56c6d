"""exit_when: an event that matches ends the customer's journey at once, wherever they wait."""

from __future__ import annotations

import pytest

from tests.integration.engine.world import World
from wayline.store import Store
from wayline.testing import ManualClock

JOURNEY = """
id: onboarding
entry: {event: Signed Up, key: properties.account}
exit_when:
  - {event: Unsubscribed}
  - event: Account Closed
    where: {properties.reason: {ne: test}}
    match_key: properties.account
nodes:
  - id: wait_a_day
    type: delay
    duration: 1d
    next: hello
  - id: hello
    type: send
    channel: log
    template: hello
    next: wait_order
  - id: wait_order
    type: wait_for_event
    event: Order Completed
    timeout: 7d
    on_event: done
    on_timeout: done
  - id: done
    type: exit
"""


@pytest.fixture
def world(store: Store, clock: ManualClock) -> World:
    return World.build(store, clock, JOURNEY)


def test_an_exit_event_ends_the_journey_during_a_delay(world: World) -> None:
    world.track("ann", "Signed Up", account="a1")
    world.machine.advance(hours=2)
    world.track("ann", "Unsubscribed")
    (inst,) = world.instances()
    assert (inst.state, inst.outcome, inst.node) == ("done", "exited", "wait_a_day")
    world.machine.advance(days=3)
    assert world.outbox() == []
    node, kind, reason = world.trace("onboarding", "ann")[-1]
    assert (node, kind) == ("wait_a_day", "exited")
    assert reason == "exit_when: Unsubscribed arrived (same customer)"
    assert world.waits() == []


def test_an_exit_event_ends_a_wait_for_another_event(world: World) -> None:
    world.track("bob", "Signed Up", account="b1")
    world.machine.advance(days=2)
    assert len(world.outbox()) == 1
    world.track("bob", "Account Closed", account="b1", reason="moved away")
    (inst,) = world.instances()
    assert (inst.state, inst.outcome, inst.node) == ("done", "exited", "wait_order")
    assert world.trace("onboarding", "bob")[-1][2] == (
        "exit_when: Account Closed arrived (properties.account = b1)"
    )


def test_where_and_match_key_must_hold(world: World) -> None:
    world.track("cy", "Signed Up", account="c1")
    world.track("cy", "Account Closed", account="c1", reason="test")  # filtered out
    world.track("cy", "Account Closed", account="other")  # another account
    world.track("dee", "Account Closed", account="c1", reason="x")  # key matches: exits
    (inst,) = world.instances()
    assert (inst.state, inst.outcome) == ("done", "exited")
    kinds = [k for _, k, _ in world.trace("onboarding", "cy")]
    assert kinds.count("exited") == 1


def test_another_customers_event_does_not_exit(world: World) -> None:
    world.track("eve", "Signed Up", account="e1")
    world.track("fay", "Unsubscribed")
    world.machine.advance(days=9)
    (inst,) = world.instances()
    assert (inst.state, inst.outcome) == ("done", "completed")
    assert len(world.outbox()) == 1


def test_an_exit_while_the_worker_is_due_stops_the_customer(world: World) -> None:
    # the delay is over but the worker has not run yet when the exit event arrives
    world.track("gus", "Signed Up", account="g1")
    world.clock.advance(days=2)
    world.send({"type": "track", "userId": "gus", "event": "Unsubscribed"})
    (inst,) = world.instances()
    assert inst.outcome == "exited"
    assert world.outbox() == []


GOAL = """
id: upsell
entry: {event: Trial Started}
goal: {event: Order Completed, where: {properties.total: {gte: 100}}, exit: true}
nodes:
  - id: wait
    type: delay
    duration: 3d
    next: done
  - id: done
    type: exit
"""


def test_a_goal_counts_only_events_that_pass_its_filter(store: Store, clock: ManualClock) -> None:
    world = World.build(store, clock, GOAL)
    world.track("ann", "Trial Started")
    world.track("ann", "Order Completed", total=20)
    (inst,) = world.instances()
    assert inst.state == "waiting"
    world.track("ann", "Order Completed", total=120)
    (inst,) = world.instances()
    assert (inst.state, inst.outcome) == ("done", "goal")
