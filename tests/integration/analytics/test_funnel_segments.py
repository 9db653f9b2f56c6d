"""Funnels broken down by segment membership, on DuckDB and PostgreSQL: the members come
from the state store as an Arrow table and are joined in the warehouse."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.integration.analytics.conftest import WS, at, ev, write
from tests.integration.analytics.test_funnels import ABC, four_customers
from wayline.analytics.eventlog import InvalidAnalysis
from wayline.analytics.funnels import (
    Funnel,
    FunnelMode,
    dropped_customers,
    dropped_customers_expr,
    funnel,
)
from wayline.analytics.segment_members import breakdown_segments
from wayline.analytics.warehouse import Warehouse


def members(*pairs: tuple[str, str]) -> pa.Table:
    return pa.table(
        {
            "customer": pa.array([c for c, _ in pairs], pa.string()),
            "segment": pa.array([s for _, s in pairs], pa.string()),
        }
    )


# a: A B C; b: A B; c: A only; d: A B (see four_customers). vip = {a, b}, new = {b, c}.
VIP_NEW = members(("a", "vip"), ("b", "vip"), ("b", "new"), ("c", "new"))


def by_segment(warehouse: Warehouse, spec: Funnel, m: pa.Table) -> dict[str, list[int]]:
    steps = funnel(warehouse, WS, spec, m)
    got: dict[str, list[int]] = {}
    for r in steps.itertuples():
        got.setdefault(str(r.breakdown), []).append(int(r.customers))
    return got


def test_a_customer_counts_under_each_segment_they_are_in(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    spec = Funnel(steps=ABC, breakdown="segment")
    got = by_segment(warehouse, spec, VIP_NEW)
    # vip: a (3 steps), b (2); new: b (2), c (1); d is in none.
    assert got == {"vip": [2, 2, 1], "new": [2, 1, 0], "(none)": [1, 1, 0]}
    # the largest first, then by name
    assert list(funnel(warehouse, WS, spec, VIP_NEW)["breakdown"].unique()) == [
        "new",
        "vip",
        "(none)",
    ]


def test_segments_named_in_the_breakdown_only(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    vip_only = VIP_NEW.filter(pa.compute.equal(VIP_NEW["segment"], "vip"))
    got = by_segment(warehouse, Funnel(steps=ABC, breakdown="segment:vip"), vip_only)
    # c (1 step) and d (2 steps) are in no segment named
    assert got == {"vip": [2, 2, 1], "(none)": [2, 1, 0]}


def test_strict_and_any_order_funnels_by_segment(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    strict = Funnel(steps=ABC, mode=FunnelMode.STRICT, breakdown="segment")
    # strict: only a does A, B, C back to back
    assert by_segment(warehouse, strict, VIP_NEW) == {
        "vip": [2, 1, 1],
        "new": [2, 0, 0],
        "(none)": [1, 0, 0],
    }
    unordered = Funnel(steps=ABC, mode=FunnelMode.ANY_ORDER, breakdown="segment")
    # any order: a and d (A, C, B) do all three; b and c (B, A) two
    assert by_segment(warehouse, unordered, VIP_NEW) == {
        "vip": [2, 2, 1],
        "new": [2, 2, 0],
        "(none)": [1, 1, 1],
    }


def test_an_anonymous_visitor_is_matched_by_anonymous_id(warehouse: Warehouse) -> None:
    write(
        warehouse,
        ev("anon-1", "A", at(0), anonymous=True),
        ev("anon-1", "B", at(1), anonymous=True),
        ev("u2", "A", at(0)),
    )
    m = members(("anon-1", "trial"))
    got = by_segment(warehouse, Funnel(steps=("A", "B"), breakdown="segment"), m)
    assert got == {"trial": [1, 1], "(none)": [1, 0]}


def test_dropped_customers_by_segment(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    spec = Funnel(steps=ABC, breakdown="segment")
    frame = dropped_customers(warehouse, WS, spec, 3, members=VIP_NEW)
    got = sorted(zip(frame["customer"], frame["breakdown"], strict=True))
    # b and d dropped before C; b is in both segments
    assert got == [("b", "new"), ("b", "vip"), ("d", "(none)")]


def test_no_members_no_segment_breakdown(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    with pytest.raises(InvalidAnalysis) as bad:
        funnel(warehouse, WS, Funnel(steps=ABC, breakdown="segment"))
    assert bad.value.field == "breakdown"


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("segment", ()),
        ("segment:vip", ("vip",)),
        ("segment:vip, new,vip", ("vip", "new")),
        ("channel", None),
        ("properties.segment", None),
        (None, None),
    ],
)
def test_the_breakdown_names_segments(text: str | None, ids: tuple[str, ...] | None) -> None:
    assert breakdown_segments(text) == ids


@pytest.mark.parametrize("text", ["segment:", "segment:vip,", "segment:,vip"])
def test_an_empty_segment_id_is_refused(text: str) -> None:
    with pytest.raises(InvalidAnalysis) as bad:
        Funnel(steps=ABC, breakdown=text).check()
    assert bad.value.field == "breakdown"


def test_a_customer_list_streams_with_the_members_joined(warehouse: Warehouse) -> None:
    four_customers(warehouse)
    spec = Funnel(steps=ABC, breakdown="segment")
    expr = dropped_customers_expr(warehouse, WS, spec, 3, VIP_NEW)
    rows = [r for batch in warehouse.stream(expr, batch_rows=2) for r in batch.to_pylist()]
    got = sorted((r["customer"], r["breakdown"]) for r in rows)
    assert got == [("b", "new"), ("b", "vip"), ("d", "(none)")]
