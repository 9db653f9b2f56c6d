"""A simulation's nodes read traits as they stood at each moment of the period, never from
its future: the same branch decisions as a real run that received the same events then."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wayline.engine.compile import compile_journey, spec_of
from wayline.engine.simulate import simulate
from wayline.engine.simulation_report import build_report
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.store import Store
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine, drain_profiles

JOURNEY = """\
id: plan-tips
entry: {event: Signed Up}
nodes:
  - id: settle_in
    type: delay
    duration: 1d
    next: which
  - id: which
    type: branch
    branches:
      - when: {where: {traits.plan: pro, traits.country: FR}}
        next: pro_fr
    default: others
  - id: pro_fr
    type: send
    channel: log
    template: tips-pro-fr
    next: done
  - id: others
    type: send
    channel: log
    template: tips
    next: done
  - id: done
    type: exit
"""
START = datetime(2026, 5, 4, tzinfo=UTC)
STOP = START + timedelta(days=3)


def identify(user: str, at: datetime, n: int, **traits: Any) -> dict[str, Any]:
    return {
        "type": "identify",
        "userId": user,
        "traits": traits,
        "timestamp": at.isoformat(),
        "messageId": f"i{n}",
    }


def history() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Events before, during and after the period. Every customer lives in France since
    before it; signs up on plan free; half move to pro half a day later, and a third of
    those back to free before the branch; after the period everyone is on gold."""
    before, during, after = [], [], []
    for i in range(24):
        user = f"u{i}"
        t0 = START + timedelta(hours=2 * i, minutes=3)
        before.append(identify(user, START - timedelta(days=30), 4 * i, country="FR"))
        during.append(identify(user, t0 - timedelta(minutes=1), 4 * i + 1, plan="free"))
        during.append(
            {
                "type": "track",
                "userId": user,
                "event": "Signed Up",
                "timestamp": t0.isoformat(),
                "messageId": f"s{i}",
            }
        )
        if i % 2:
            during.append(identify(user, t0 + timedelta(hours=12), 4 * i + 2, plan="pro"))
            if i % 3 == 0:
                during.append(identify(user, t0 + timedelta(hours=20), 4 * i + 3, plan="free"))
        after.append(identify(user, STOP + timedelta(days=1), 1000 + i, plan="gold"))
    return before, during, after


def stored(message: dict[str, Any]) -> Any:
    return parse_message(message, received_at=datetime.fromisoformat(message["timestamp"]))


def test_branches_on_traits_decide_as_in_a_real_run(store: Store, clock: ManualClock) -> None:
    assert isinstance(store, SqlStore)
    workspace = store.create_workspace("app").workspace
    journey = load_journey_text(JOURNEY, "plan-tips.yaml")
    JourneyStore(store).apply(workspace.id, journey.id, journey.id, spec_of(journey))
    before, during, after = history()
    store.append_events(workspace.id, [stored(m) for m in before])
    drain_profiles(store)
    machine = TimeMachine.for_journeys(store, clock)
    clock.set(START)
    for message in sorted(during, key=lambda m: m["timestamp"]):
        machine.advance(datetime.fromisoformat(message["timestamp"]) - clock.now())
        store.append_events(workspace.id, [stored(message)])
        machine.settle()
    machine.advance(STOP - clock.now())
    compiled = compile_journey(workspace.id, journey.id, 1, spec_of(journey))
    real = build_report(store, compiled, start=START, end=STOP, events=0, refused={})
    # what came later is stored too when the simulation runs: it must not leak in
    store.append_events(workspace.id, [stored(m) for m in after])
    drain_profiles(store)

    simulated = simulate(store, workspace, journey, START, STOP)

    templates = {m.template: m.messages for m in simulated.messages}
    # pro at the branch: odd customers but every third of them, who went back to free
    assert templates == {"tips-pro-fr": 8, "tips": 16}
    assert simulated.nodes == real.nodes
    assert simulated.messages == real.messages
