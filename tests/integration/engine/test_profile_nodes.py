"""update_profile and score: the worker changes traits that later nodes and branches see."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from tests.integration.engine.world import World
from wayline.channels.dispatcher import Dispatcher, standard_channels
from wayline.engine.compile import not_yet_run
from wayline.journeys import load_journey_text
from wayline.settings import Settings
from wayline.store import Store
from wayline.testing import ManualClock

JOURNEY = """
id: lead
entry: {event: Demo Requested, key: properties.company}
re_entry: {policy: always}
nodes:
  - id: mark
    type: update_profile
    set:
      company: "{{ journey.key }}"
      stage: lead
      tags: [demo, "{{ event.properties.source }}"]
    unset: [churned]
    next: points
  - id: points
    type: score
    trait: lead_score
    add: 10
    next: hot
  - id: hot
    type: branch
    branches:
      - when: {where: {traits.lead_score: {gte: 20}, traits.stage: lead}}
        next: tell_sales
    default: wait
  - id: tell_sales
    type: send
    channel: log
    template: hot-lead
    next: wait
  - id: wait
    type: delay
    duration: 1d
    next: done
  - id: done
    type: exit
"""


@pytest.fixture
def world(store: Store, clock: ManualClock) -> World:
    return World.build(store, clock, JOURNEY)


def test_traits_are_set_templated_and_removed(world: World) -> None:
    world.identify("ann", churned=True, plan="free")
    world.track("ann", "Demo Requested", company="acme", source="ads")
    traits = world.traits("ann")
    assert traits["company"] == "acme"
    assert traits["stage"] == "lead"
    assert traits["tags"] == ["demo", "ads"]
    assert traits["plan"] == "free"
    assert "churned" not in traits
    assert traits["lead_score"] == 10
    trace = world.trace("lead", "ann")
    assert trace[1][:2] == ("mark", "updated")
    assert "company = acme" in trace[1][2]
    assert "churned removed" in trace[1][2]
    assert trace[2][:2] == ("points", "updated")
    assert trace[2][2] == "score: lead_score + 10; now lead_score = 10"


def test_a_score_adds_up_and_a_later_branch_sees_it(world: World) -> None:
    world.track("bob", "Demo Requested", company="b1")
    world.machine.advance(days=2)
    assert [m.channel for m in world.outbox()] == ["identify", "identify"]  # 10: not hot
    world.track("bob", "Demo Requested", company="b2")
    assert world.traits("bob")["lead_score"] == 20
    (sent,) = [m for m in world.outbox() if m.channel == "log"]
    assert orjson.loads(sent.payload)["template"] == "hot-lead"
    assert world.trace("lead", "bob")[-3][:2] == ("hot", "branched")


def test_a_score_on_text_fails_the_customer_with_the_reason(world: World) -> None:
    world.identify("cy", lead_score="high")
    world.track("cy", "Demo Requested", company="c1")
    (inst,) = world.instances()
    assert (inst.state, inst.outcome, inst.node) == ("done", "failed", "points")
    assert world.trace("lead", "cy")[-1][2] == "trait 'lead_score' is not a number: 'high'"
    assert world.traits("cy")["lead_score"] == "high"


def test_an_older_event_consumed_later_does_not_overwrite_a_journeys_trait(
    world: World, clock: ManualClock
) -> None:
    clock.advance(hours=1)
    world.track("dee", "Demo Requested", company="d1")  # the journey writes at 01:00
    clock.advance(hours=1)
    before = clock.now().replace(hour=0, minute=30).isoformat()  # stamped 00:30
    world.send(
        {
            "type": "identify",
            "userId": "dee",
            "timestamp": before,
            "traits": {"stage": "customer", "churned": True, "city": "Lyon"},
        }
    )
    traits = world.traits("dee")
    assert traits["stage"] == "lead"
    assert "churned" not in traits
    assert traits["city"] == "Lyon"
    world.send({"type": "identify", "userId": "dee", "traits": {"stage": "customer"}})
    assert world.traits("dee")["stage"] == "customer"  # a newer event still wins


def test_the_change_reaches_the_timeline_as_an_identify_call(
    world: World, settings: Settings, clock: ManualClock
) -> None:
    store = world.store
    dispatcher = Dispatcher(store, settings, clock, standard_channels(store, settings, clock))
    world.machine.runtime.add("dispatcher", dispatcher.step, 0.01)
    world.track("eve", "Demo Requested", company="e1", source="web")
    world.machine.settle()
    events = store.profile_events(world.workspace, world.profile_id("eve"), limit=10)
    identifies = sorted(
        (orjson.loads(e.payload) for e in events if e.type == "identify"),
        key=lambda i: i["context"]["wayline"]["node"],
    )
    assert [i["traits"] for i in identifies] == [
        {"company": "e1", "stage": "lead", "tags": ["demo", "web"]},
        {"lead_score": 10},
    ]
    assert identifies[1]["userId"] == "eve"
    assert identifies[1]["context"]["wayline"] == {"journey_id": "lead", "node": "points"}
    assert world.traits("eve")["lead_score"] == 10
    # delivered again (a dispatcher that crashed before recording): the inbox drops it
    (first, *_) = [m for m in world.outbox() if m.channel == "identify"]
    from wayline.store.outbox import OutboxStore

    message = OutboxStore(store).get(first.id)
    assert message is not None
    dispatcher.channels["identify"].deliver(message)
    assert store.stats(world.workspace).events == 1 + 2
    dispatcher.close()


def test_update_profile_and_score_are_no_longer_reported_as_not_run() -> None:
    journey = load_journey_text(JOURNEY, "lead.yaml")
    assert not_yet_run(journey) == []


def test_the_profile_consumer_does_not_undo_a_journeys_write(
    world: World, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wayline.errors import ConsumerConflict
    from wayline.events import parse_message
    from wayline.profiles import process_inbox, resolve
    from wayline.store.traits import TraitChange, change_traits

    world.identify("fay", plan="free")
    pid = world.profile_id("fay")
    clock.advance(hours=1)
    world.store.append_events(
        world.workspace,
        [
            parse_message(
                {"type": "identify", "userId": "fay", "messageId": "x", "traits": {"city": "Oslo"}},
                received_at=clock.now(),
            )
        ],
    )
    store = world.store
    with store.identity_batch(100) as batch:
        read = batch.profiles

        def read_then_journey_writes(ids: set[str]) -> dict[str, Any]:
            found = read(ids)  # the consumer has read the profile when a journey writes
            with store._write() as conn:
                change_traits(conn, pid, TraitChange(set={"stage": "lead"}), clock.now())
            return found

        monkeypatch.setattr(batch, "profiles", read_then_journey_writes)
        with pytest.raises(ConsumerConflict):
            resolve(batch)
    while process_inbox(store, 100):  # taken again, on top of the journey's write
        pass
    assert world.traits("fay") == {"plan": "free", "stage": "lead", "city": "Oslo"}
