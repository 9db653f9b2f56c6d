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


def test_events_at_the_same_instant_are_taken_in_step_order(warehouse: Warehouse) -> None:
    # t: B, A, B at the same instant (in that arrival order), then C; u: B then A.
    write(
        warehouse,
        *(ev("t", "B", at(0)), ev("t", "A", at(0)), ev("t", "B", at(0)), ev("t", "C", at(1))),
        *(ev("u", "B", at(0)), ev("u", "A", at(0))),
    )
    # Ordered: at 0 both are read A, B (step order), so t: A B C and u: A B, whatever the
    # arrival order.
    assert counts(warehouse, Funnel(steps=ABC)) == [2, 2, 1]
    # A->B: t 0 s, u 0 s; B->C: t 60 s.
    assert medians(warehouse, Funnel(steps=ABC)) == [None, 0.0, 60.0]
    # Strict keeps the arrival order: only t's A is followed at once by B, then C.
    assert counts(warehouse, Funnel(steps=ABC, mode=FunnelMode.STRICT)) == [2, 1, 1]


def test_two_steps_at_the_same_instant(warehouse: Warehouse) -> None:
    write(
        warehouse,
        # p: A then B, both at 0 -> A, B (0 s)
        *(ev("p", "A", at(0)), ev("p", "B", at(0))),
        # q: B arrived before A, both at 0 -> still A, B (0 s)
        *(ev("q", "B", at(0)), ev("q", "A", at(0))),
        # r: B at 0, A at 1 -> B is earlier than A: A only
        *(ev("r", "B", at(0)), ev("r", "A", at(1))),
    )
    spec = Funnel(steps=("A", "B"))
    assert counts(warehouse, spec) == [3, 2]
    assert medians(warehouse, spec) == [None, 0.0]
    assert list(dropped_customers(warehouse, WS, spec, 2)["customer"]) == ["r"]


def test_three_steps_at_the_same_instant(warehouse: Warehouse) -> None:
    write(
        warehouse,
        # s: C, B, A all at 0 (arrival reversed) -> A, B, C at 0
        *(ev("s", "C", at(0)), ev("s", "B", at(0)), ev("s", "A", at(0))),
        # v: A at 0, then C and B (in that arrival order) at 1 -> A, B (60 s), C (0 s)
        *(ev("v", "A", at(0)), ev("v", "C", at(1)), ev("v", "B", at(1))),
    )
    spec = Funnel(steps=ABC)
    assert counts(warehouse, spec) == [2, 2, 2]
    # A->B: s 0, v 60 -> 30; B->C: s 0, v 0
    assert medians(warehouse, spec) == [None, 30.0, 0.0]


def test_a_repeated_step_cannot_use_one_event_twice(warehouse: Warehouse) -> None:
    # A, B, A with one A and one B at 0: the A is step 1, B step 2; no A is left for step 3.
    write(warehouse, ev("w", "B", at(0)), ev("w", "A", at(0)))
    assert counts(warehouse, Funnel(steps=("A", "B", "A"))) == [1, 1, 0]


def test_an_exclusion_may_be_a_step_event(warehouse: Warehouse) -> None:
    write(
        warehouse,
        *(ev("v", "A", at(0)), ev("v", "B", at(1)), ev("v", "B", at(2)), ev("v", "C", at(3))),
        *(ev("w", "A", at(0)), ev("w", "B", at(1)), ev("w", "C", at(2))),
        *(ev("y", "A", at(0)), ev("y", "C", at(1)), ev("y", "B", at(2)), ev("y", "C", at(3))),
    )
    # a second B between steps 2 and 3 excludes v's only attempt, so v is left out (the
    # step's own B is not between them); y: A, B at 2, C at 3 with no B between
    second_b = Funnel(steps=ABC, exclusions=(Exclusion(event="B", after_step=2, before_step=3),))
    assert counts(warehouse, second_b) == [2, 2, 2]
    # a C between A and B excludes y's only attempt; v's and w's C is step 3 itself
    any_c = Funnel(steps=ABC, exclusions=(Exclusion(event="C"),))
    assert counts(warehouse, any_c) == [2, 2, 2]


def test_exclusions_leave_out_customers_whose_best_attempt_is_excluded(
    warehouse: Warehouse,
) -> None:
    four_customers(warehouse)
    write(
        warehouse,
        *(ev("h", "A", at(0)), ev("h", "B", at(1)), ev("h", "X", at(2)), ev("h", "C", at(3))),
    )
    whole = Funnel(steps=ABC, exclusions=(Exclusion(event="X"),))
    # b did X between A and B, h between B and C: both left out. a: 3, c: 1, d: 2.
    assert counts(warehouse, whole) == [3, 2, 1]
    late = Funnel(steps=ABC, exclusions=(Exclusion(event="X", after_step=2, before_step=3),))
    # h left out; b's X is before step 2, outside the range: a 3, b 2, c 1, d 2.
    assert counts(warehouse, late) == [4, 3, 1]
    early = Funnel(steps=ABC, exclusions=(Exclusion(event="X", after_step=1, before_step=2),))
    # b left out; h's X is after step 2: a 3, c 1, d 2, h 3.
    assert counts(warehouse, early) == [4, 3, 2]
    unordered = Funnel(steps=ABC, mode=FunnelMode.ANY_ORDER, exclusions=(Exclusion(event="X"),))
    # b: A then X stops it (B after X is not counted); h: A, B, then X.
    assert counts(warehouse, unordered) == [5, 4, 2]


def test_whole_funnel_exclusion(warehouse: Warehouse) -> None:
    write(
        warehouse,
        # e1: A0 X1 B2 C3 -> the only attempt is excluded (X between A and B): left out
        *(ev("e1", "A", at(0)), ev("e1", "X", at(1)), ev("e1", "B", at(2))),
        ev("e1", "C", at(3)),
        # e2: A0 X1 A2 B3 C4 -> the attempt from A0 is excluded; the one from A2 is clean:
        # A->B 60 s, B->C 60 s
        *(ev("e2", "A", at(0)), ev("e2", "X", at(1)), ev("e2", "A", at(2))),
        *(ev("e2", "B", at(3)), ev("e2", "C", at(4))),
        # e3: A0 B1 C2 X3 -> X after the last step: A->B 60 s, B->C 60 s
        *(ev("e3", "A", at(0)), ev("e3", "B", at(1)), ev("e3", "C", at(2))),
        ev("e3", "X", at(3)),
        # e4: A0 B1 X2, no C -> X after step 2, within the window: left out
        *(ev("e4", "A", at(0)), ev("e4", "B", at(1)), ev("e4", "X", at(2))),
        # e5: A0 B1 C2, then A10 X11 -> the best attempt (A0) is clean: A->B 60, B->C 60
        *(ev("e5", "A", at(0)), ev("e5", "B", at(1)), ev("e5", "C", at(2))),
        *(ev("e5", "A", at(10)), ev("e5", "X", at(11))),
        # e6: A0 B1 X2 C3, then A at day 20 -> the deepest attempt (3 steps) is excluded,
        # so the clean 1-step attempt does not count either: left out
        *(ev("e6", "A", at(0)), ev("e6", "B", at(1)), ev("e6", "X", at(2))),
        *(ev("e6", "C", at(3)), ev("e6", "A", at(days=20))),
        # e7: X at the instant of A, then B1 C2 -> X is not after A: A->B 60, B->C 60
        *(ev("e7", "X", at(0)), ev("e7", "A", at(0)), ev("e7", "B", at(1))),
        ev("e7", "C", at(2)),
        # e8: A0, then B and X (in that arrival order) at 1 -> X at B's instant comes
        # before B, so between A and B: left out
        *(ev("e8", "A", at(0)), ev("e8", "B", at(1)), ev("e8", "X", at(1))),
        # e9: A then X (arrival order) at 0, B1 C2 -> X at A's instant still comes before
        # A: A->B 60, B->C 60
        *(ev("e9", "A", at(0)), ev("e9", "X", at(0)), ev("e9", "B", at(1))),
        ev("e9", "C", at(2)),
    )
    spec = Funnel(steps=ABC, exclusions=(Exclusion(event="X"),))
    # counted: e2, e3, e5, e7, e9
    assert counts(warehouse, spec) == [5, 5, 5]
    assert medians(warehouse, spec) == [None, 60.0, 60.0]
    for step in (2, 3):
        assert dropped_customers(warehouse, WS, spec, step).empty


def test_step_range_exclusion(warehouse: Warehouse) -> None:
    write(
        warehouse,
        # f1: A0 X1 B2 C3 -> X before step 2, outside 2-3: A->B 120 s, B->C 60 s
        *(ev("f1", "A", at(0)), ev("f1", "X", at(1)), ev("f1", "B", at(2))),
        ev("f1", "C", at(3)),
        # f2: A0 B1 X2 C3 -> X between B and C: left out
        *(ev("f2", "A", at(0)), ev("f2", "B", at(1)), ev("f2", "X", at(2))),
        ev("f2", "C", at(3)),
        # f3: A0 B1 X2 A5 B6 C7 -> the attempt from A0 is excluded; from A5 it is clean:
        # A->B 60 s, B->C 60 s
        *(ev("f3", "A", at(0)), ev("f3", "B", at(1)), ev("f3", "X", at(2))),
        *(ev("f3", "A", at(5)), ev("f3", "B", at(6)), ev("f3", "C", at(7))),
        # f4: A0 B1 X2, no C -> left out
        *(ev("f4", "A", at(0)), ev("f4", "B", at(1)), ev("f4", "X", at(2))),
        # f5: A0 X1, no B -> X outside 2-3 and step 2 never reached: 1 step
        *(ev("f5", "A", at(0)), ev("f5", "X", at(1))),
    )
    spec = Funnel(steps=ABC, exclusions=(Exclusion(event="X", after_step=2, before_step=3),))
    # counted: f1 (3), f3 (3), f5 (1)
    assert counts(warehouse, spec) == [3, 2, 2]
    # A->B: f1 120, f3 60 -> 90; B->C: 60, 60
    assert medians(warehouse, spec) == [None, 90.0, 60.0]
    assert list(dropped_customers(warehouse, WS, spec, 2)["customer"]) == ["f5"]


def test_exclusions_and_the_conversion_window(warehouse: Warehouse) -> None:
    write(
        warehouse,
        # g1: A0, X at day 2 -> X after the 1-day window: not excluded, 1 step
        *(ev("g1", "A", at(0)), ev("g1", "X", at(days=2))),
        # g2: A0, X at 23 h -> within the window, no B: left out
        *(ev("g2", "A", at(0)), ev("g2", "X", at(hours=23))),
        # g3: A0, X at 1 h, B at day 2 (too late to count) -> left out
        *(ev("g3", "A", at(0)), ev("g3", "X", at(hours=1)), ev("g3", "B", at(days=2))),
        # g4: A0, X at 1 h, A at day 2, B at day 2 + 1 h -> the second attempt converts
        *(ev("g4", "A", at(0)), ev("g4", "X", at(hours=1)), ev("g4", "A", at(days=2))),
        ev("g4", "B", at(days=2, hours=1)),
        # g5: A0, X and B exactly at the window's end -> X (before B at that instant) is
        # within the window: left out
        *(ev("g5", "A", at(0)), ev("g5", "B", at(days=1)), ev("g5", "X", at(days=1))),
    )
    spec = Funnel(steps=("A", "B"), window=timedelta(days=1), exclusions=(Exclusion(event="X"),))
    assert counts(warehouse, spec) == [2, 1]
    assert medians(warehouse, spec) == [None, 3600.0]
    assert list(dropped_customers(warehouse, WS, spec, 2)["customer"]) == ["g1"]
    # with a 3-day window g1's X is inside it (left out), and g3's B counts after X (left
    # out); g4's first attempt reaches B after X (excluded), its second is clean
    wide = Funnel(steps=("A", "B"), window=timedelta(days=3), exclusions=(Exclusion(event="X"),))
    assert counts(warehouse, wide) == [1, 1]


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
