"""Experiments over real journey runs: a split, the goal, counted per variant on both stores."""

from __future__ import annotations

import itertools

import orjson
import pandas as pd
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.unit.journeys.example import load as load_journey
from wayline.analytics.experiments import NOT_ENOUGH_DATA, experiments
from wayline.analytics.fields import BadParameter
from wayline.analytics.significance import probability_to_beat, two_proportion_z_test
from wayline.engine.compile import spec_of
from wayline.events import parse_message
from wayline.runtime import Role
from wayline.server import Process
from wayline.settings import Settings
from wayline.store import Store, schema
from wayline.store.base import NewWorkspace
from wayline.store.journeys import JourneyStore
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, TimeMachine

PROMO = """
id: promo
entry: {event: Signed Up}
goal: {event: Order Completed}
nodes:
  - id: offer_test
    type: split
    variants: {offer: 50, control: 50}
    next: {offer: wait, control: wait}
  - id: wait
    type: delay
    duration: 7d
    next: done
  - id: done
    type: exit
"""


def run(store: SqlStore, clock: ManualClock, customers: int, buyers: set[int]) -> NewWorkspace:
    created = store.create_workspace("shop")
    workspace = created.workspace.id
    journey = load_journey(PROMO)
    JourneyStore(store).apply(workspace, journey.id, "Promo", spec_of(journey))
    machine = TimeMachine.for_journeys(store, clock)
    ids = itertools.count()

    def track(user: str, event: str) -> None:
        message = {"type": "track", "userId": user, "event": event, "messageId": f"m{next(ids)}"}
        store.append_events(workspace, [parse_message(message, received_at=clock.now())])

    # an order before entering the journey does not count
    track("c0", "Order Completed")
    machine.settle()
    for c in range(customers):
        track(f"c{c}", "Signed Up")
    machine.settle()
    machine.advance(hours=1)
    for c in sorted(buyers):
        track(f"c{c}", "Order Completed")
    machine.settle()
    return created


def variant_of(store: SqlStore) -> dict[str, str]:
    """Each customer's variant, read from the instances' context (not from the steps)."""
    t = schema.journey_instances
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(t.c.profile_id, t.c.context)).all()
    return {r.profile_id: orjson.loads(r.context)["variants"]["offer_test"] for r in rows}


def profile_ids(store: SqlStore, workspace: str, users: list[str]) -> list[str]:
    found = [store.find_profile(workspace, u) for u in users]
    return [f.profile.id for f in found if f is not None]


def test_conversion_per_variant_and_the_comparison(store: Store, clock: ManualClock) -> None:
    assert isinstance(store, SqlStore)
    buyers = set(range(0, 40, 2))  # 20 buyers among 40
    workspace = run(store, clock, 40, buyers).workspace.id
    assigned = variant_of(store)
    bought = set(profile_ids(store, workspace, [f"c{c}" for c in buyers]))
    expect = {
        v: (
            sum(1 for p, x in assigned.items() if x == v),
            sum(1 for p, x in assigned.items() if x == v and p in bought),
        )
        for v in ("offer", "control")
    }
    assert sum(n for n, _ in expect.values()) == 40

    frame = experiments(store, workspace, "promo", min_customers=5, min_conversions=1)
    rows = {r["variant"]: r for r in frame.to_dict(orient="records")}
    assert set(rows) == {"offer", "control"}
    for v, (n, conv) in expect.items():
        assert (rows[v]["customers"], rows[v]["conversions"]) == (n, conv)
    assert rows["control"]["control"] is True
    assert pd.isna(rows["control"]["verdict"])
    offer, control = expect["offer"], expect["control"]
    test = two_proportion_z_test(control[1], control[0], offer[1], offer[0])
    assert rows["offer"]["difference"] == pytest.approx(test.difference)
    assert rows["offer"]["p_value"] == pytest.approx(test.p_value, nan_ok=True)
    assert rows["offer"]["probability_to_beat_control"] == pytest.approx(
        probability_to_beat(control[1], control[0], offer[1], offer[0])
    )
    assert rows["offer"]["verdict"] in ("better", "worse", "no significant difference")

    # with the default thresholds, 40 customers are not enough
    default = experiments(store, workspace, "promo")
    offer_row = default[default["variant"] == "offer"].iloc[0]
    assert offer_row["verdict"] == NOT_ENOUGH_DATA


def test_unknown_journey_and_bad_confidence(store: Store, clock: ManualClock) -> None:
    assert isinstance(store, SqlStore)
    workspace = run(store, clock, 2, set()).workspace.id
    with pytest.raises(BadParameter) as caught:
        experiments(store, workspace, "nope")
    assert caught.value.parameter == "journey"
    with pytest.raises(BadParameter) as caught:
        experiments(store, workspace, "promo", confidence=1.5)
    assert caught.value.parameter == "confidence"
    goalless = load_journey(
        PROMO.replace("goal: {event: Order Completed}\n", "").replace("promo", "plain")
    )
    JourneyStore(store).apply(workspace, "plain", "Plain", spec_of(goalless))
    with pytest.raises(BadParameter, match="has no goal"):
        experiments(store, workspace, "plain")


def test_over_http(store: Store, clock: ManualClock, settings: Settings) -> None:
    assert isinstance(store, SqlStore)
    created = run(store, clock, 12, {1, 2, 3})
    process = Process(settings, {Role.API}, store=store, clock=clock)
    admin = {"Authorization": f"Bearer {created.admin_token}"}
    with TestClient(process.app()) as client:
        answer = client.get("/api/v1/insights/experiments/promo", headers=admin)
        assert answer.status_code == 200, answer.text
        rows = {r["variant"]: r for r in answer.json()["data"]}
        assert rows["control"]["control"] is True
        assert rows["control"]["verdict"] is None  # the control is not compared with itself
        assert rows["offer"]["verdict"] == "not enough data yet"
        assert rows["offer"]["customers"] + rows["control"]["customers"] == 12
        bad = client.get(
            "/api/v1/insights/experiments/promo", params={"confidence": "2"}, headers=admin
        )
        assert bad.status_code == 400
        assert bad.json()["field"] == "confidence"
