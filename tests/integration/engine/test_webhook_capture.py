"""webhook capture_as: the customer waits for the response, which later nodes then read."""

from __future__ import annotations

from collections.abc import Iterator

import orjson
import pytest

from tests.integration.engine.world import World
from tests.integration.test_webhook_channel import Sink
from wayline.channels.dispatcher import Dispatcher, standard_channels
from wayline.engine.captures import WebhookAnswers
from wayline.engine.compile import not_yet_run
from wayline.journeys import load_journey_text
from wayline.settings import Settings
from wayline.store import Store
from wayline.store.journeys import JourneyStore
from wayline.testing import ManualClock

JOURNEY = """
id: enrich
entry: {event: Signed Up, where: {properties.path: {exists: true}}, key: properties.path}
re_entry: {policy: always}
nodes:
  - id: lookup
    type: webhook
    url: "URL{{ journey.key }}"
    body: {user: "{{ profile.user_id }}"}
    capture_as: crm
    next: check
  - id: check
    type: branch
    branches:
      - when: {where: {journey.crm.received: true}}
        next: thanks
    default: fallback
  - id: thanks
    type: send
    channel: log
    template: thanks
    next: done
  - id: fallback
    type: send
    channel: log
    template: fallback
    next: done
  - id: done
    type: exit
"""


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink()
    s.thread.start()
    yield s
    s.server.shutdown()
    s.server.server_close()
    s.thread.join()


@pytest.fixture
def world(store: Store, clock: ManualClock, settings: Settings, sink: Sink) -> Iterator[World]:
    world = World.build(store, clock, JOURNEY.replace("URL", sink.url))
    from wayline.channels.secrets import webhook_secret

    sink.secret = webhook_secret(world.store, world.workspace)
    settings = settings.model_copy(
        update={"webhook_allowed_hosts": "127.0.0.1", "dispatch_max_attempts": 3}
    )
    answers = WebhookAnswers(JourneyStore(world.store))
    dispatcher = Dispatcher(
        world.store,
        settings,
        clock,
        standard_channels(world.store, settings, clock),
        on_sent=answers.on_sent,
        on_dead=answers.on_dead,
    )
    world.machine.runtime.add("dispatcher", dispatcher.step, 0.01)
    yield world
    dispatcher.close()


def _templates(world: World) -> list[str]:
    return [orjson.loads(m.payload)["template"] for m in world.outbox() if m.channel == "log"]


def test_the_response_is_kept_and_a_later_branch_reads_it(world: World, sink: Sink) -> None:
    world.track("ann", "Signed Up", path="/ok")
    (inst,) = world.instances()
    assert (inst.state, inst.outcome) == ("done", "completed")
    assert world.context(inst)["crm"] == {"received": True}
    assert _templates(world) == ["thanks"]
    (request,) = sink.requests
    assert orjson.loads(request["body"]) == {"user": "ann"}
    kinds = [(node, kind) for node, kind, _ in world.trace("enrich", "ann")]
    assert kinds[:4] == [
        ("lookup", "entered"),
        ("lookup", "queued"),
        ("lookup", "resumed"),
        ("lookup", "passed"),
    ]
    assert world.trace("enrich", "ann")[2][2] == "webhook answered (HTTP 200): kept as journey.crm"


def test_the_customer_waits_at_the_webhook_until_it_is_answered(world: World, sink: Sink) -> None:
    dispatcher = world.machine.runtime.loops.pop()  # the dispatcher is down for a while
    world.track("bob", "Signed Up", path="/ok")
    world.machine.advance(days=3)
    (inst,) = world.instances()
    assert (inst.state, inst.node, inst.wake_at) == ("waiting", "lookup", None)
    assert _templates(world) == []
    world.machine.runtime.loops.append(dispatcher)
    world.machine.settle()
    (inst,) = world.instances()
    assert inst.outcome == "completed"
    assert _templates(world) == ["thanks"]
    assert len(sink.requests) == 1


def test_a_failed_delivery_goes_on_without_the_response(world: World) -> None:
    world.track("cy", "Signed Up", path="/bad")
    (inst,) = world.instances()
    assert inst.outcome == "completed"
    assert "crm" not in world.context(inst)
    assert _templates(world) == ["fallback"]
    reason = world.trace("enrich", "cy")[2][2]
    assert reason.startswith("webhook failed: HTTP 400")
    assert reason.endswith("going on without journey.crm")


def test_a_retried_delivery_holds_the_customer_until_it_gives_up(world: World, sink: Sink) -> None:
    world.track("dee", "Signed Up", path="/down")  # 503 every time
    (inst,) = world.instances()
    assert inst.state == "waiting"
    world.machine.advance(hours=2)
    (inst,) = world.instances()
    assert inst.outcome == "completed"
    assert _templates(world) == ["fallback"]
    assert len(sink.requests) == 3


def test_an_answer_for_a_customer_who_left_changes_nothing(world: World, sink: Sink) -> None:
    dispatcher = world.machine.runtime.loops.pop()
    world.track("eve", "Signed Up", path="/ok")
    from wayline.store.journeys import InstanceState

    journeys = JourneyStore(world.store)
    with world.store._write() as conn:
        (inst,) = journeys.lock(conn, [world.instances()[0].id])
        inst.state, inst.outcome = InstanceState.DONE, "exited"
        journeys.save(conn, inst, world.clock.now())
    world.machine.runtime.loops.append(dispatcher)
    world.machine.settle()
    (row,) = world.instances()
    assert (row.outcome, row.node) == ("exited", "lookup")
    assert "crm" not in world.context(row)
    assert len(sink.requests) == 1


def test_capture_as_is_no_longer_reported_as_not_run() -> None:
    text = JOURNEY.replace("URL", "https://crm.example.com")
    assert not_yet_run(load_journey_text(text, "enrich.yaml")) == []


def test_a_webhook_dropped_by_quiet_hours_at_send_time_goes_on_without_the_response(
    world: World, sink: Sink
) -> None:
    from datetime import timedelta

    from wayline.journeys.controls import load_controls_text
    from wayline.store.controls import ControlsStore

    dispatcher = world.machine.runtime.loops.pop()  # the dispatcher is down for a while
    world.track("eve", "Signed Up", path="/ok")
    now = world.clock.now()
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1))
    rule = f'{{channels: [webhook], from: "{start}", to: "{end:%H:%M}", action: drop}}'
    controls = load_controls_text(f"quiet_hours: [{rule}]").to_data()
    ControlsStore(world.store).put(world.workspace, controls)  # quiet hours began meanwhile
    world.machine.runtime.loops.append(dispatcher)
    world.machine.settle()
    assert sink.requests == []
    (inst,) = world.instances()
    assert inst.outcome == "completed"
    assert _templates(world) == ["fallback"]
    (row,) = [m for m in world.outbox() if m.channel == "webhook"]
    assert row.state == "dropped"
    steps = world.trace("enrich", "eve")
    assert ("lookup", "dropped") in [(node, kind) for node, kind, _ in steps]
    assert any(reason.startswith("webhook failed: quiet hours") for _, _, reason in steps)
