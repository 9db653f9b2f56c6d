"""Branch on the customer's past events: did E, at least N times, in a window, filtered."""

from __future__ import annotations

import orjson
import pytest

from tests.integration.engine.world import World
from wayline.store import Store
from wayline.testing import ManualClock

JOURNEY = """
id: winback
entry: {event: App Opened}
re_entry: {policy: always}
nodes:
  - id: check
    type: branch
    branches:
      - when:
          event: Order Completed
          at_least: 2
          within: 30d
          where: {properties.total: {gte: 10}}
        next: loyal
      - when: {event: Order Completed, not: true}
        next: never
    default: once
  - {id: loyal, type: send, channel: log, template: loyal, next: done}
  - {id: never, type: send, channel: log, template: never, next: done}
  - {id: once, type: send, channel: log, template: once, next: done}
  - {id: done, type: exit}
"""


@pytest.fixture
def world(store: Store, clock: ManualClock) -> World:
    return World.build(store, clock, JOURNEY)


def _last_template(world: World) -> str:
    template: str = orjson.loads(world.outbox()[-1].payload)["template"]
    return template


def test_a_customer_who_never_ordered(world: World) -> None:
    world.track("bob", "Order Completed", total=50)  # someone else's orders
    world.track("bob", "Order Completed", total=50)
    world.track("ann", "App Opened")
    assert _last_template(world) == "never"
    reason = world.trace("winback", "ann")[1][2]
    assert reason == "branch 2: not: Order Completed: 0 of 1"


def test_two_orders_in_the_window_that_pass_the_filter(world: World) -> None:
    world.track("ann", "Order Completed", total=50)
    world.track("ann", "Order Completed", total=12)
    world.track("ann", "App Opened")
    assert _last_template(world) == "loyal"
    assert world.trace("winback", "ann")[1][2] == (
        "branch 1: Order Completed (filtered) in the last 30d: at least 2 of 2"
    )


def test_an_order_that_fails_the_filter_does_not_count(world: World) -> None:
    world.track("ann", "Order Completed", total=50)
    world.track("ann", "Order Completed", total=5)
    world.track("ann", "App Opened")
    assert _last_template(world) == "once"


def test_an_order_older_than_the_window_does_not_count(world: World) -> None:
    world.track("ann", "Order Completed", total=50)
    world.machine.advance(days=31)
    world.track("ann", "Order Completed", total=50)
    world.track("ann", "App Opened")
    assert _last_template(world) == "once"
    world.machine.advance(days=10)
    world.track("ann", "Order Completed", total=20)
    world.track("ann", "App Opened")
    assert _last_template(world) == "loyal"


def test_events_sent_before_the_customer_logged_in_count(world: World) -> None:
    world.send(
        {
            "type": "track",
            "anonymousId": "dev-1",
            "event": "Order Completed",
            "properties": {"total": 30},
        }
    )
    world.send({"type": "identify", "anonymousId": "dev-1", "userId": "cy"})
    world.track("cy", "Order Completed", total=30)
    world.track("cy", "App Opened")
    assert _last_template(world) == "loyal"
