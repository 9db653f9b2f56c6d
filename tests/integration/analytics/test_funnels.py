"""Funnels on hand-computed logs, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tests.integration.analytics.conftest import WS, at, ev, identify, write
from wayline.analytics.eventlog import InvalidAnalysis
from wayline.analytics.funnels import (
    Exclusion,
    Funnel,
    FunnelMode,
    dropped_customers,
    funnel,
    funnel_report,
)
from wayline.analytics.warehouse import Warehouse

ABC = ("A", "B", "C")


def four_customers(warehouse: Warehouse) -> None:
    write(
        warehouse,
        *(ev("a", "A", at(0)), ev("a", "B", at(5)), ev("a", "C", at(10))),
        *(ev("b", "A", at(0)), ev("b", "X", at(1)), ev("b", "B", at(3))),
        *(ev("c", "B", at(0)), ev("c", "A", at(1))),
        *(ev("d", "A", at(0)), ev("d", "C", at(1)), ev("d", "B", at(2))),
    )


def counts(warehouse: Warehouse, spec: Funnel) -> list[int]:
    return [int(c) for c in funnel(warehouse, WS, spec)["customers"]]


def medians(warehouse: Warehouse, spec: Funnel) -> list[Any]:
    column = funnel(warehouse, WS, spec)["median_seconds_from_previous"]
    return [None if v != v else v for v in column]  # NaN -> None


def test_ordered_allows_other_events_between_steps(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    spec = Funnel(steps=ABC)
    # a: A B C; b: A (X) B; c: B before A counts only A; d: A (C) B, no C after B.
    assert counts(warehouse, spec) == [4, 3, 1]
    # A->B: a 300 s, b 180 s, d 120 s; B->C: a 300 s.
    assert medians(warehouse, spec) == [None, 180.0, 300.0]
    steps = funnel(warehouse, WS, spec)
    assert list(steps["dropped"]) == [0, 1, 2]
    assert list(steps["conversion_rate"]) == [1.0, 0.75, 0.25]
    assert list(steps["step_conversion_rate"]) == [1.0, 0.75, pytest.approx(1 / 3)]


def test_strict_allows_nothing_between_steps(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    # Only a does A, B, C back to back; b has X and d has C between A and B.
    assert counts(warehouse, Funnel(steps=ABC, mode=FunnelMode.STRICT)) == [4, 1, 1]


def test_any_order_counts_different_steps_done(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    spec = Funnel(steps=ABC, mode=FunnelMode.ANY_ORDER)
    # a: 3 steps; b: A and B; c: B and A; d: A, C, B.
    assert counts(warehouse, spec) == [4, 4, 2]
    # 2nd step done after: a 300, b 180, c 60, d 60 -> 120; 3rd: a 300, d 60 -> 180.
    assert medians(warehouse, spec) == [None, 120.0, 180.0]


def test_the_window_boundary_is_included(warehouse: Warehouse) -> None:
    write(
        warehouse,
        *(ev("on", "A", at(0)), ev("on", "B", at(days=14))),
        *(ev("late", "A", at(0)), ev("late", "B", at(days=14, minutes=1 / 60))),
    )
    for mode in FunnelMode:
        assert counts(warehouse, Funnel(steps=("A", "B"), mode=mode)) == [2, 1], mode
    assert counts(warehouse, Funnel(steps=("A", "B"), window=timedelta(days=15))) == [2, 2]
    assert counts(warehouse, Funnel(steps=("A", "B"), window=timedelta(days=1))) == [2, 0]
    dropped = dropped_customers(warehouse, WS, Funnel(steps=("A", "B")), 2)
    assert list(dropped["customer"]) == ["late"]


def test_a_later_attempt_counts(warehouse: Warehouse) -> None:
    write(
        warehouse,
        ev("g", "A", at(0)),
        ev("g", "A", at(days=20)),
        ev("g", "B", at(days=21)),
    )
    spec = Funnel(steps=("A", "B"))
    assert counts(warehouse, spec) == [1, 1]
    assert medians(warehouse, spec) == [None, 86400.0]


def test_a_step_may_repeat(warehouse: Warehouse) -> None:
    write(warehouse, ev("r", "A", at(0)), ev("r", "B", at(1)), ev("r", "A", at(2)))
    write(warehouse, ev("s", "A", at(0)), ev("s", "B", at(1)))
    assert counts(warehouse, Funnel(steps=("A", "B", "A"))) == [2, 2, 1]


def test_events_at_the_same_instant_keep_their_arrival_order(warehouse: Warehouse) -> None:
    # t: B, A, B at the same instant (in that arrival order), then C; u: B then A.
    write(
        warehouse,
        *(ev("t", "B", at(0)), ev("t", "A", at(0)), ev("t", "B", at(0)), ev("t", "C", at(1))),
        *(ev("u", "B", at(0)), ev("u", "A", at(0))),
    )
    assert counts(warehouse, Funnel(steps=ABC)) == [2, 1, 1]
    assert counts(warehouse, Funnel(steps=ABC, mode=FunnelMode.STRICT)) == [2, 1, 1]
    assert medians(warehouse, Funnel(steps=ABC)) == [None, 0.0, 60.0]


def test_an_exclusion_may_be_a_step_event(warehouse: Warehouse) -> None:
    write(
        warehouse,
        *(ev("v", "A", at(0)), ev("v", "B", at(1)), ev("v", "B", at(2)), ev("v", "C", at(3))),
        *(ev("w", "A", at(0)), ev("w", "B", at(1)), ev("w", "C", at(2))),
        *(ev("y", "A", at(0)), ev("y", "C", at(1)), ev("y", "B", at(2)), ev("y", "C", at(3))),
    )
    # a second B between steps 2 and 3 ends v's attempt at step 2 (the step's own B does not)
    second_b = Funnel(steps=ABC, exclusions=(Exclusion(event="B", after_step=2, before_step=3),))
    assert counts(warehouse, second_b) == [3, 3, 2]
    # a C between A and B ends y's attempt at A; v's and w's C is step 3 itself
    any_c = Funnel(steps=ABC, exclusions=(Exclusion(event="C"),))
    assert counts(warehouse, any_c) == [3, 2, 2]


def test_exclusions_end_the_attempt(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    write(
        warehouse,
        *(ev("h", "A", at(0)), ev("h", "B", at(1)), ev("h", "X", at(2)), ev("h", "C", at(3))),
    )
    whole = Funnel(steps=ABC, exclusions=(Exclusion(event="X"),))
    # b did X between A and B; h between B and C.
    assert counts(warehouse, whole) == [5, 3, 1]
    late = Funnel(steps=ABC, exclusions=(Exclusion(event="X", after_step=2, before_step=3),))
    assert counts(warehouse, late) == [5, 4, 1]
    early = Funnel(steps=ABC, exclusions=(Exclusion(event="X", after_step=1, before_step=2),))
    assert counts(warehouse, early) == [5, 3, 2]
    unordered = Funnel(steps=ABC, mode=FunnelMode.ANY_ORDER, exclusions=(Exclusion(event="X"),))
    # b: A then X stops it (B after X is not counted); h: A, B, then X.
    assert counts(warehouse, unordered) == [5, 4, 2]


def test_breakdown_by_event_property_channel_and_trait(warehouse: Warehouse) -> None:
    write(
        warehouse,
        ev("p", "A", at(0), properties={"plan": "pro"}, context={"campaign": {"medium": "email"}}),
        ev("p", "B", at(1)),
        ev("q", "A", at(0), properties={"plan": "pro"}),
        ev("r", "A", at(0), properties={"plan": "free"}, context={"campaign": {"medium": "cpc"}}),
        ev("r", "B", at(1)),
        identify("p", at(-5), tier="gold"),
        identify("p", at(-1), tier="silver"),  # the latest value counts
        identify("q", at(-1), tier="silver"),
    )
    spec = Funnel(steps=("A", "B"), breakdown="properties.plan")
    steps = funnel(warehouse, WS, spec)
    got = {(r.breakdown, r.step): r.customers for r in steps.itertuples()}
    assert got == {("pro", 1): 2, ("pro", 2): 1, ("free", 1): 1, ("free", 2): 1}

    by_channel = funnel(warehouse, WS, Funnel(steps=("A", "B"), breakdown="channel"))
    got = {(r.breakdown, r.step): r.customers for r in by_channel.itertuples()}
    assert got == {
        ("email", 1): 1,
        ("email", 2): 1,
        ("cpc", 1): 1,
        ("cpc", 2): 1,
        ("direct", 1): 1,
        ("direct", 2): 0,
    }

    by_trait = funnel(warehouse, WS, Funnel(steps=("A", "B"), breakdown="traits.tier"))
    got = {(r.breakdown, r.step): r.customers for r in by_trait.itertuples()}
    assert got == {("silver", 1): 2, ("silver", 2): 1, ("(none)", 1): 1, ("(none)", 2): 1}


def test_time_distribution(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    times = funnel_report(warehouse, WS, Funnel(steps=ABC)).times
    nonzero = {(r.step, r.bucket): r.customers for r in times.itertuples() if r.customers}
    assert nonzero == {(2, "1m-10m"): 3, (3, "1m-10m"): 1}


def test_dropped_customers_per_step(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    spec = Funnel(steps=ABC)
    assert list(dropped_customers(warehouse, WS, spec, 2)["customer"]) == ["c"]
    assert list(dropped_customers(warehouse, WS, spec, 3)["customer"]) == ["b", "d"]
    with pytest.raises(InvalidAnalysis) as bad:
        dropped_customers(warehouse, WS, spec, 1)
    assert bad.value.field == "step"


def test_a_time_range_bounds_the_first_step(warehouse: Warehouse) -> None:
    write(
        warehouse,
        *(ev("early", "A", at(days=-1)), ev("early", "B", at(days=0, minutes=1))),
        *(ev("in", "A", at(days=1)), ev("in", "B", at(days=3))),
    )
    spec = Funnel(steps=("A", "B"), start=at(0), end=at(days=2))
    assert counts(warehouse, spec) == [1, 1]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (Funnel(steps=("A",)), "steps"),
        (Funnel(steps=("A", "")), "steps"),
        (Funnel(steps=("A", "A"), mode=FunnelMode.ANY_ORDER), "steps"),
        (Funnel(steps=("A", "B"), window=timedelta(0)), "window"),
        (Funnel(steps=("A", "B"), exclusions=(Exclusion(event="X", after_step=2),)), "exclude"),
        (Funnel(steps=("A", "B"), breakdown="plan"), "breakdown"),
    ],
)
def test_bad_parameters_name_the_field(warehouse: Warehouse, spec: Funnel, field: str) -> None:
    with pytest.raises(InvalidAnalysis) as bad:
        funnel(warehouse, WS, spec)
    assert bad.value.field == field
