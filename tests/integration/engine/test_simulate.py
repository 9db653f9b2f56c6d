"""``journeys simulate``: the stored events replayed through a journey, sending nothing,
on both stores. The counts are checked against the journey's rules worked out by hand,
and against a real run of the journey on the manual clock over the same events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.engine.simulation_data import (
    END,
    JOURNEY,
    START,
    Carts,
    expect,
    make_carts,
)
from wayline.engine.compile import compile_journey, spec_of
from wayline.engine.simulate import simulate
from wayline.engine.simulation_report import build_report
from wayline.events import parse_message
from wayline.journeys import load_journey_text
from wayline.store import Store, schema
from wayline.store.base import Workspace
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine, drain_profiles

JOURNEY_TABLES = (
    schema.journeys,
    schema.journey_versions,
    schema.journey_instances,
    schema.journey_waits,
    schema.journey_enrolments,
    schema.journey_steps,
    schema.outbox,
)


def rows(message: dict[str, Any]) -> Any:
    return parse_message(message, received_at=datetime.fromisoformat(message["timestamp"]))


def store_history(store: SqlStore, workspace: str, carts: Carts) -> None:
    """The events as an import of history would store them: all at once, out of order."""
    ordered = sorted(carts.messages, key=lambda m: m["messageId"], reverse=True)
    for start in range(0, len(ordered), 500):
        store.append_events(workspace, [rows(m) for m in ordered[start : start + 500]])
    drain_profiles(store)


def table_counts(store: SqlStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        return {
            t.name: int(conn.scalar(sa.select(sa.func.count()).select_from(t)) or 0)
            for t in JOURNEY_TABLES
        }


def profiles_of(store: SqlStore, workspace: str, carts: Carts) -> dict[str, str]:
    found = {}
    for user, *_ in carts.entries:
        view = store.find_profile(workspace, user)
        assert view is not None
        found[user] = view.profile.id
    return found


@pytest.fixture
def shop(store: Store) -> tuple[SqlStore, Workspace]:
    assert isinstance(store, SqlStore)
    return store, store.create_workspace("shop").workspace


def test_simulation_counts_what_the_rules_say(shop: tuple[SqlStore, Workspace]) -> None:
    store, workspace = shop
    other = store.create_workspace("elsewhere").workspace.id
    carts = make_carts()
    store_history(store, workspace.id, carts)
    # another workspace's identical events are not replayed
    store_history(store, other, make_carts(customers=20))
    journey = load_journey_text(JOURNEY, "abandoned-cart.yaml")

    report = simulate(store, workspace, journey, START, END)

    want = expect(carts, profiles_of(store, workspace.id, carts), workspace.id)
    assert report.events == sum(
        1 for m in carts.messages if START <= datetime.fromisoformat(m["timestamp"]) < END
    )
    assert (report.entries, report.customers) == (want.entries, want.customers)
    assert report.refused == dict(carts.refused)
    assert carts.refused["already_inside"] > 0
    assert carts.refused["cooldown"] > 0
    assert report.converted == want.converted > 0
    assert report.outcomes == dict(want.outcomes)
    assert report.inside == want.inside > 0
    nodes = {n.id: n for n in report.nodes}
    assert list(nodes) == [
        "wait_checkout",
        "notify_crm",
        "reminder",
        "wait_a_day",
        "opened",
        "split",
        "send_discount",
        "done",
    ]
    for node_id, node in nodes.items():
        assert node.reached == want.reached[node_id], node_id
        assert node.waiting == want.waiting[node_id], node_id
    assert nodes["wait_checkout"].passed == want.reached["notify_crm"]  # timed out
    assert nodes["wait_a_day"].passed == want.reached["opened"]
    assert nodes["split"].variants == dict(sorted(want.variants.items()))
    assert nodes["done"].ended == {"completed": want.outcomes["completed"]}
    sent = {(m.channel, m.node): m.messages for m in report.messages}
    assert sent == dict(want.messages)
    assert {m.node: m.template for m in report.messages} == {
        "notify_crm": None,
        "reminder": "cart-reminder",
        "send_discount": "cart-discount",
    }
    # nothing was sent, enrolled or stored in the workspace's store
    assert set(table_counts(store).values()) == {0}


def test_a_period_with_no_events_reports_nothing(shop: tuple[SqlStore, Workspace]) -> None:
    store, workspace = shop
    store_history(store, workspace.id, make_carts(customers=10))
    journey = load_journey_text(JOURNEY, "abandoned-cart.yaml")
    report = simulate(store, workspace, journey, END.replace(year=2027), END.replace(year=2028))
    assert (report.events, report.entries, report.messages) == (0, 0, [])
    assert [n.reached for n in report.nodes] == [0] * 8


class Recorder:
    def __init__(self) -> None:
        self.phases: list[tuple[str, int | None]] = []
        self.done: dict[str, int] = {}

    def phase(self, description: str, total: int | None) -> None:
        self.phases.append((description, total))
        self.done[description] = 0

    def advance(self, amount: int) -> None:
        self.done[self.phases[-1][0]] += amount


def test_progress_is_told_each_phase_and_its_size(shop: tuple[SqlStore, Workspace]) -> None:
    store, workspace = shop
    carts = make_carts(customers=15)
    store_history(store, workspace.id, carts)
    journey = load_journey_text(JOURNEY, "abandoned-cart.yaml")
    recorder = Recorder()
    report = simulate(store, workspace, journey, START, END, progress=recorder)
    (reading, stored), (replaying, replayed) = recorder.phases
    assert (reading, replaying) == ("reading events", "replaying events")
    assert stored == len(carts.messages)  # every stored event is looked at
    assert replayed == report.events < len(carts.messages)
    assert recorder.done == {reading: stored, replaying: replayed}


def test_the_simulation_equals_a_real_run(store: Store, clock: ManualClock) -> None:
    """The same events, sent one by one at their times to the real engine on the manual
    clock, leave exactly the counts the simulation reports, node by node."""
    assert isinstance(store, SqlStore)
    workspace = store.create_workspace("shop").workspace
    journey = load_journey_text(JOURNEY, "abandoned-cart.yaml")
    JourneyStore(store).apply(workspace.id, journey.id, journey.name or "", spec_of(journey))
    carts = make_carts(customers=40, seed=11)
    stop = END - timedelta(hours=20)  # some customers are still inside by then
    machine = TimeMachine.for_journeys(store, clock)
    clock.set(START)
    timed = sorted(carts.messages, key=lambda m: (datetime.fromisoformat(m["timestamp"]),))
    for message in timed:
        at = datetime.fromisoformat(message["timestamp"])
        if not START <= at < stop:
            continue
        machine.advance(at - clock.now())
        store.append_events(workspace.id, [rows(message)])
        machine.settle()
    machine.advance(stop - clock.now())
    # the events of the other times are stored too, as they would be
    store.append_events(
        workspace.id,
        [
            rows(m)
            for m in carts.messages
            if not START <= datetime.fromisoformat(m["timestamp"]) < stop
        ],
    )
    drain_profiles(store)

    compiled = compile_journey(workspace.id, journey.id, 1, spec_of(journey))
    real = build_report(store, compiled, start=START, end=stop, events=0, refused={})
    real_steps = JourneyStore(store).node_counts(workspace.id, journey.id)
    before = table_counts(store)

    simulated = simulate(store, workspace, journey, START, stop)

    assert simulated.entries == real.entries > 0
    # every path of the journey was taken
    reached = {n.id: n.reached for n in real.nodes}
    assert min(reached.values()) > 0, reached
    assert real.outcomes.keys() == {"goal", "completed"}
    assert real.inside > 0
    assert simulated.nodes == real.nodes
    assert simulated.messages == real.messages
    assert (simulated.converted, simulated.outcomes, simulated.inside) == (
        real.converted,
        real.outcomes,
        real.inside,
    )
    steps = {
        n.id: {**n.steps, **({"here_now": n.waiting} if n.waiting else {})} for n in simulated.nodes
    }
    assert {k: v for k, v in steps.items() if v} == real_steps
    assert table_counts(store) == before
