"""The journey map on a hand-computed log, on DuckDB and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.analytics.conftest import WS, at, ev, write
from wayline.analytics.journey_map import JourneyMapSpec, PainPointRules, journey_map
from wayline.analytics.stage_model import load_stage_model
from wayline.analytics.warehouse import Warehouse

MODEL = load_stage_model(
    """
stages:
  - name: visit
    events: [Page Viewed]
  - name: buy
    events: [Order Completed]
"""
)
DAY = 86400.0
RULES = PainPointRules(min_customers=2, min_feedback=1)


def page(customer: str, medium: str) -> dict[str, Any]:
    return ev(customer, None, at(0), type="page", context={"campaign": {"medium": medium}})


def eight_customers(warehouse: Warehouse) -> None:
    write(
        warehouse,
        *(page("v1", "email"), ev("v1", "Order Completed", at(days=1))),
        *(page("v2", "email"), ev("v2", "Order Completed", at(days=3))),
        *(page("v3", "cpc"), ev("v3", "Ticket Created", at(hours=1))),
        *(page("v4", "cpc"), ev("v4", "Ticket Created", at(hours=1))),
        page("v5", "cpc"),
        ev("v5", "NPS Submitted", at(hours=2), properties={"score": 10}),
        ev("v5", "Order Completed", at(days=1)),
        page("v6", "email"),
        ev("v6", "NPS Submitted", at(hours=1), properties={"score": 9}),
        ev("v6", "Order Completed", at(days=1)),
        *(page("v7", "sms"), ev("v7", "Order Completed", at(days=9))),
        *(page("v8", "sms"), ev("v8", "Order Completed", at(days=9))),
    )


def test_stage_rows_and_cells(warehouse: Warehouse) -> None:
    eight_customers(warehouse)
    m = journey_map(warehouse, WS, JourneyMapSpec(model=MODEL, rules=RULES))
    visit, buy = m.stages
    assert (visit.stage, visit.customers, visit.moved_on, visit.conversion_rate) == (
        "visit",
        8,
        6,
        0.75,
    )
    assert visit.median_seconds == 2 * DAY  # 1, 1, 1, 3, 9, 9 days
    assert visit.sentiment == pytest.approx(-0.2 / 4)  # +0.8, -1, -1, +1
    assert (buy.customers, buy.moved_on, buy.median_seconds) == (6, 0, None)

    assert m.touchpoints == [
        ("direct", "Order Completed"),
        ("cpc", "Page Viewed"),
        ("email", "Page Viewed"),
        ("direct", "NPS Submitted"),
        ("direct", "Ticket Created"),
        ("sms", "Page Viewed"),
    ]
    email = m.cell("visit", "email", "Page Viewed")
    assert email is not None
    assert (email.customers, email.moved_on, email.median_seconds) == (3, 3, 1 * DAY)
    assert email.sentiment == pytest.approx(0.8)
    assert email.feedback == 1
    cpc = m.cell("visit", "cpc", "Page Viewed")
    assert cpc is not None
    assert cpc.customers == 3
    assert cpc.conversion_rate == pytest.approx(1 / 3)
    assert cpc.sentiment == pytest.approx(-1 / 3)
    assert cpc.feedback == 3
    orders = m.cell("buy", "direct", "Order Completed")
    assert orders is not None
    assert (orders.customers, orders.events) == (6, 6)
    assert m.cell("buy", "cpc", "Page Viewed") is None
    assert len(m.cells) == 6


def test_pain_points_carry_their_numbers(warehouse: Warehouse) -> None:
    eight_customers(warehouse)
    m = journey_map(warehouse, WS, JourneyMapSpec(model=MODEL, rules=RULES))
    flags = {
        (p.kind, p.channel, p.event): (p.value, p.baseline, p.threshold) for p in m.pain_points
    }
    assert flags == {
        ("drop_off", "cpc", "Page Viewed"): (pytest.approx(1 / 3), 1.0, pytest.approx(0.85)),
        ("sentiment", "cpc", "Page Viewed"): (
            pytest.approx(-1 / 3),
            pytest.approx(0.8),
            pytest.approx(0.5),
        ),
        ("long_wait", "sms", "Page Viewed"): (9 * DAY, 2 * DAY, 4 * DAY),
        ("drop_off", "direct", "Ticket Created"): (0.0, 1.0, pytest.approx(0.85)),
        ("sentiment", "direct", "Ticket Created"): (
            -1.0,
            pytest.approx(0.9),
            pytest.approx(0.6),
        ),
    }
    wait = next(p for p in m.pain_points if p.kind == "long_wait")
    assert wait.message == (
        "visit · sms · Page Viewed: median 9.0 days to the next stage, "
        "against 2.0 days for the whole stage"
    )
    # With the default thresholds (10 customers a cell), nothing this small is flagged.
    assert journey_map(warehouse, WS, JourneyMapSpec(model=MODEL)).pain_points == []


def test_fewer_touchpoints_and_json(warehouse: Warehouse) -> None:
    eight_customers(warehouse)
    m = journey_map(warehouse, WS, JourneyMapSpec(model=MODEL, rules=RULES, touchpoints=2))
    assert m.touchpoints == [("direct", "Order Completed"), ("cpc", "Page Viewed")]
    data = m.to_json()
    assert [c["event"] for c in data["cells"]] == ["Page Viewed", "Order Completed"]
    assert data["touchpoints"][0] == {"channel": "direct", "event": "Order Completed"}
    assert list(m.to_frame()["customers"]) == [3, 6]
