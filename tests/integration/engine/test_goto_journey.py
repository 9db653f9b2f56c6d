"""goto: {journey: ID}: the customer is enrolled there and leaves this journey."""

from __future__ import annotations

import pytest

from tests.integration.engine.world import World
from wayline.engine.compile import not_yet_run
from wayline.journeys import load_journey_text
from wayline.store import Store
from wayline.store.journeys import JourneyStatus, JourneyStore
from wayline.testing import ManualClock

WELCOME = """
id: welcome
entry: {event: Signed Up}
re_entry: {policy: always}
nodes:
  - id: hello
    type: send
    channel: log
    template: hello
    next: onward
  - id: onward
    type: goto
    journey: nurture
"""

NURTURE = """
id: nurture
entry: {api: true}
nodes:
  - id: wait
    type: delay
    duration: 2d
    next: tips
  - id: tips
    type: send
    channel: log
    template: tips
    next: done
  - id: done
    type: exit
"""


@pytest.fixture
def world(store: Store, clock: ManualClock) -> World:
    return World.build(store, clock, WELCOME, NURTURE)


def test_the_customer_moves_to_the_other_journey(world: World) -> None:
    world.track("ann", "Signed Up", plan="pro")
    welcome, nurture = world.instances()
    assert (welcome.journey_id, welcome.state, welcome.outcome) == ("welcome", "done", "moved")
    assert (nurture.journey_id, nurture.state, nurture.node) == ("nurture", "waiting", "wait")
    assert world.trace("welcome", "ann")[-1] == ("onward", "moved", "moved to journey nurture")
    assert world.trace("nurture", "ann")[0] == (
        "wait",
        "entered",
        "entered on goto from journey welcome (node onward)",
    )
    assert world.context(nurture)["event"]["properties"] == {"plan": "pro"}
    world.machine.advance(days=3)
    assert [m.node for m in world.outbox()] == ["hello", "tips"]


def test_the_other_journeys_re_entry_policy_refuses_with_the_reason(world: World) -> None:
    world.track("bob", "Signed Up")
    world.track("bob", "Signed Up")  # welcome again; nurture is once only
    second = world.instances("welcome")[1]
    assert (second.state, second.outcome) == ("done", "completed")
    assert world.trace("welcome", "bob")[-1] == (
        "onward",
        "moved",
        "journey nurture refused: already inside the journey",
    )
    assert len(world.instances("nurture")) == 1


def test_a_paused_journey_takes_nobody(world: World) -> None:
    JourneyStore(world.store).set_status(world.workspace, "nurture", JourneyStatus.PAUSED)
    world.track("cy", "Signed Up")
    assert world.instances("nurture") == []
    (inst,) = world.instances("welcome")
    assert inst.outcome == "completed"
    assert world.trace("welcome", "cy")[-1][2] == ("journey nurture is not active: stays out of it")


def test_goto_another_journey_is_no_longer_reported_as_not_run() -> None:
    assert not_yet_run(load_journey_text(WELCOME, "welcome.yaml")) == []
