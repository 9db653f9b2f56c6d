"""Paths and retention on hand-computed logs, on DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.integration.analytics.conftest import WS, at, ev, write
from wayline.analytics.eventlog import InvalidAnalysis
from wayline.analytics.paths import Paths, paths, sankey
from wayline.analytics.retention import CohortKind, Period, Retention, retention
from wayline.analytics.warehouse import Warehouse


def three_customers(warehouse: Warehouse) -> None:
    write(
        warehouse,
        # u: two sessions (31 minutes apart)
        *(ev("u", "A", at(0)), ev("u", "B", at(1)), ev("u", "C", at(2))),
        *(ev("u", "A", at(33)), ev("u", "C", at(34))),
        # v: one session that starts before A
        *(ev("v", "X", at(0)), ev("v", "A", at(1)), ev("v", "B", at(2)), ev("v", "B", at(3))),
        # w: exactly 30 minutes keeps the session; 31 more starts a new one
        *(ev("w", "A", at(0)), ev("w", "B", at(30)), ev("w", "C", at(61))),
    )


def links(warehouse: Warehouse, spec: Paths) -> set[tuple[Any, ...]]:
    frame = paths(warehouse, WS, spec)
    return {(r.step, r.source, r.target, r.sessions, r.customers) for r in frame.itertuples()}


def test_paths_after_a_start_event(warehouse: Warehouse) -> None:
    three_customers(warehouse)
    assert links(warehouse, Paths(start_event="A", depth=2)) == {
        (0, "A", "B", 3, 3),
        (0, "A", "C", 1, 1),
        (1, "B", "C", 1, 1),
        (1, "B", "B", 1, 1),
    }
    assert links(warehouse, Paths(start_event="A", depth=1)) == {
        (0, "A", "B", 3, 3),
        (0, "A", "C", 1, 1),
    }


def test_paths_before_an_end_event(warehouse: Warehouse) -> None:
    three_customers(warehouse)
    # u's first session A B C, its second A C; w's C is alone in its session.
    assert links(warehouse, Paths(end_event="C", depth=2)) == {
        (-2, "A", "B", 1, 1),
        (-1, "B", "C", 1, 1),
        (-1, "A", "C", 1, 1),
    }


def test_paths_from_session_start_and_the_gap(warehouse: Warehouse) -> None:
    three_customers(warehouse)
    assert links(warehouse, Paths(depth=1)) == {
        (0, "A", "B", 2, 2),
        (0, "A", "C", 1, 1),
        (0, "X", "A", 1, 1),
    }
    # With an hour, u and w each have one session: A B C A C and A B C.
    assert links(warehouse, Paths(depth=1, session_gap=timedelta(hours=1))) == {
        (0, "A", "B", 2, 2),
        (0, "X", "A", 1, 1),
    }


def test_top_links_per_step_and_sankey(warehouse: Warehouse) -> None:
    three_customers(warehouse)
    frame = paths(warehouse, WS, Paths(start_event="A", depth=2, top=1))
    assert [(r.step, r.source, r.target) for r in frame.itertuples()] == [
        (0, "A", "B"),
        (1, "B", "B"),  # a tie broken by name
    ]
    data = sankey(frame)
    assert data["nodes"] == [{"name": "0:A"}, {"name": "1:B"}, {"name": "2:B"}]
    assert data["links"] == [
        {"source": 0, "target": 1, "value": 3, "customers": 3},
        {"source": 1, "target": 2, "value": 1, "customers": 1},
    ]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        (Paths(start_event="A", end_event="B"), "end_event"),
        (Paths(depth=0), "depth"),
        (Paths(session_gap=timedelta(0)), "session_gap"),
        (Paths(top=0), "top"),
    ],
)
def test_bad_path_parameters(warehouse: Warehouse, spec: Paths, field: str) -> None:
    with pytest.raises(InvalidAnalysis) as bad:
        paths(warehouse, WS, spec)
    assert bad.value.field == field


# -- retention -------------------------------------------------------------------------------


def daily_log(warehouse: Warehouse) -> None:
    write(
        warehouse,
        *(ev("p", "E", at(days=0)), ev("p", "E", at(days=1)), ev("p", "E", at(days=3))),
        *(ev("q", "E", at(days=0, hours=23)), ev("q", "E", at(days=2))),
        *(ev("r", "E", at(days=1)), ev("r", "E", at(days=1, hours=5))),
    )


def grid(warehouse: Warehouse, spec: Retention) -> dict[tuple[date, int], tuple[int, int]]:
    frame = retention(warehouse, WS, spec)
    return {(r.cohort, r.period): (r.cohort_size, r.customers) for r in frame.itertuples()}


JAN = 2026, 1


def test_first_time_daily_cohorts(warehouse: Warehouse) -> None:
    daily_log(warehouse)
    assert grid(warehouse, Retention(period=Period.DAY)) == {
        (date(*JAN, 5), 0): (2, 2),
        (date(*JAN, 5), 1): (2, 1),  # p
        (date(*JAN, 5), 2): (2, 1),  # q
        (date(*JAN, 5), 3): (2, 1),  # p
        (date(*JAN, 6), 0): (1, 1),
        (date(*JAN, 6), 1): (1, 0),
        (date(*JAN, 6), 2): (1, 0),  # the data ends on the 8th
    }
    frame = retention(warehouse, WS, Retention(period=Period.DAY))
    assert list(frame["rate"])[:2] == [1.0, 0.5]


def test_recurring_daily_cohorts(warehouse: Warehouse) -> None:
    daily_log(warehouse)
    spec = Retention(period=Period.DAY, kind=CohortKind.RECURRING, periods=2)
    assert grid(warehouse, spec) == {
        (date(*JAN, 5), 0): (2, 2),
        (date(*JAN, 5), 1): (2, 1),
        (date(*JAN, 5), 2): (2, 1),
        (date(*JAN, 6), 0): (2, 2),  # p and r
        (date(*JAN, 6), 1): (2, 0),
        (date(*JAN, 6), 2): (2, 1),  # p on the 8th
        (date(*JAN, 7), 0): (1, 1),
        (date(*JAN, 7), 1): (1, 0),
        (date(*JAN, 8), 0): (1, 1),
    }


def test_weekly_and_monthly_cohorts(warehouse: Warehouse) -> None:
    write(
        warehouse,
        ev("p", "E", at(days=0)),  # Monday 5 January
        ev("p", "E", at(days=6, hours=23, minutes=59)),  # Sunday 11th: the same week
        ev("q", "E", at(days=6)),
        ev("q", "E", at(days=7)),  # Monday 12th: the next week
        ev("m", "E", at(days=26)),  # 31 January
        ev("m", "E", at(days=55)),  # 1 March
    )
    assert grid(warehouse, Retention(period=Period.WEEK, periods=1)) == {
        (date(*JAN, 5), 0): (2, 2),
        (date(*JAN, 5), 1): (2, 1),
        (date(*JAN, 26), 0): (1, 1),
        (date(*JAN, 26), 1): (1, 0),
    }
    assert grid(warehouse, Retention(period=Period.MONTH)) == {
        (date(*JAN, 1), 0): (3, 3),
        (date(*JAN, 1), 1): (3, 0),
        (date(*JAN, 1), 2): (3, 1),
    }


def test_start_and_return_events(warehouse: Warehouse) -> None:
    write(
        warehouse,
        *(ev("a", "Signed Up", at(days=0)), ev("a", "Order", at(days=1))),
        *(ev("b", "Signed Up", at(days=0)), ev("b", "Visit", at(days=1))),
        ev("c", "Order", at(days=0)),  # never signed up: in no cohort
    )
    spec = Retention(start_event="Signed Up", return_event="Order", period=Period.DAY)
    assert grid(warehouse, spec) == {
        (date(*JAN, 5), 0): (2, 0),
        (date(*JAN, 5), 1): (2, 1),
    }
    with pytest.raises(InvalidAnalysis) as bad:
        retention(warehouse, WS, Retention(periods=-1))
    assert bad.value.field == "periods"
