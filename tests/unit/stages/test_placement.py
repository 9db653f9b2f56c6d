"""Placing a customer from history: rules with where/occurrence/distinct, traits from
identify calls, the changes of current stage, and the typical time in a stage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wayline.analytics.stage_model import load_stage_model
from wayline.segments.evaluate import Happening
from wayline.stages.placement import Entry, Move, Plan, Said, entries, moves, typical_seconds

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MODEL = load_stage_model(
    """\
stages:
  - name: awareness
    events: [Page Viewed]
  - name: decision
    events:
      - event: Checkout Started
        where: {value: {gte: 50}, currency: {ne: XXX}}
  - name: purchase
    events: [Order Completed]
  - name: retention
    events:
      - event: Order Completed
        occurrence: 2
        distinct: order_id
  - name: advocacy
    traits: {nps_group: promoter, score: 9}
"""
)
PLAN = Plan.of(MODEL)


def history(*events: tuple[str, int, dict[str, Any]]) -> dict[str, list[Happening]]:
    found: dict[str, list[Happening]] = {}
    for seq, (name, hours, props) in enumerate(events):
        found.setdefault(name, []).append(
            Happening(
                name=name, at=T0 + timedelta(hours=hours), seq=seq, data={"properties": props}
            )
        )
    return found


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def test_where_compares_numbers_and_ne() -> None:
    found = entries(
        PLAN,
        history(
            ("Checkout Started", 1, {"value": 20}),
            ("Checkout Started", 2, {"value": "80", "currency": "XXX"}),
            ("Checkout Started", 3, {"value": 50.0}),
        ),
        [],
    )
    assert found == [Entry(1, at(3))]


def test_occurrence_counts_distinct_values() -> None:
    found = entries(
        PLAN,
        history(
            ("Order Completed", 1, {"order_id": "a"}),
            ("Order Completed", 2, {"order_id": "a"}),  # another line of the same order
            ("Order Completed", 3, {}),  # no order id: does not count
            ("Order Completed", 4, {"order_id": "b"}),
        ),
        [],
    )
    assert found == [Entry(2, at(1)), Entry(3, at(4))]


def test_traits_from_an_identify_call_all_of_them() -> None:
    said = [
        Said(at=at(1), seq=1, traits={"nps_group": "promoter", "score": 7}),
        Said(at=at(2), seq=2, traits={"nps_group": "promoter", "score": "9"}),
    ]
    assert entries(PLAN, {}, said) == [Entry(4, at(2))]


def test_moves_follow_time_and_only_go_forward() -> None:
    found = [Entry(0, at(1)), Entry(2, at(2)), Entry(1, at(3)), Entry(4, at(5))]
    assert moves(found, None, None) == [
        Move(0, at(1), None, None),
        Move(2, at(2), 0, at(1)),
        Move(4, at(5), 2, at(2)),
    ]
    # from a stored stage: only what goes beyond it
    assert moves(found, 2, at(2)) == [Move(4, at(5), 2, at(2))]
    assert moves(found, 4, at(5)) == []


def test_typical_time_is_the_median_time_to_a_later_stage() -> None:
    histories = [
        [Entry(0, at(0)), Entry(1, at(2))],
        [Entry(0, at(0)), Entry(2, at(4))],
        [Entry(0, at(0)), Entry(1, at(10))],
        [Entry(0, at(0))],  # never moved on: not counted
    ]
    assert typical_seconds(histories, 5) == {0: 4 * 3600.0}
