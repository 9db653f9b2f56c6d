from __future__ import annotations

from typing import Any

import pytest
from pydantic import TypeAdapter, ValidationError

from tests.unit.journeys.example import HEAD, one_problem
from wayline.journeys.filters import Where, lookup, matches, parse_where

EVENT: dict[str, Any] = {
    "event": "Product Added",
    "properties": {"price": 12.5, "cart_id": "c1", "tags": ["sale", "new"], "sku": "SKU-101"},
    "traits": {"plan": "pro", "vip": True, "visits": 1, "signed_up": "2026-03-01"},
    "context": {"campaign": {"source": "newsletter"}},
    "items": [{"sku": "A"}, {"sku": "B"}],
}


def where(raw: dict[str, Any]) -> bool:
    return matches(parse_where(raw), EVENT)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"properties.price": {"gte": 10}}, True),
        ({"properties.price": {"gte": 12.5}}, True),
        ({"properties.price": {"gt": 12.5}}, False),
        ({"properties.price": {"lt": 20, "gt": 10}}, True),
        ({"properties.price": {"lte": 12}}, False),
        ({"traits.plan": "pro"}, True),
        ({"traits.plan": "free"}, False),
        ({"traits.plan": {"eq": "pro"}}, True),
        ({"traits.plan": {"ne": "pro"}}, False),
        ({"traits.plan": {"in": ["pro", "team"]}}, True),
        ({"traits.plan": {"not_in": ["pro", "team"]}}, False),
        ({"context.campaign.source": "newsletter"}, True),
        ({"properties.tags": {"contains": "sale"}}, True),
        ({"properties.tags": {"contains": "old"}}, False),
        ({"properties.sku": {"contains": "101"}}, True),
        ({"properties.price": {"contains": 1}}, False),
        ({"properties.cart_id": {"exists": True}}, True),
        ({"properties.coupon": {"exists": False}}, True),
        ({"properties.coupon": {"exists": True}}, False),
        ({"traits.signed_up": {"gte": "2026-01-01"}}, True),
        ({"items.1.sku": "B"}, True),
        ({"items.5.sku": {"exists": True}}, False),
        ({"traits.plan": "pro", "properties.price": {"gte": 100}}, False),
        ({}, True),
    ],
)
def test_operators(raw: dict[str, Any], expected: bool) -> None:
    assert where(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # a missing field is null: equal to nothing but null, unequal to everything else
        ({"properties.coupon": "X"}, False),
        ({"properties.coupon": None}, True),
        ({"properties.coupon": {"ne": "X"}}, True),
        ({"properties.coupon": {"not_in": ["X"]}}, True),
        ({"properties.coupon": {"gt": 0}}, False),
        ({"properties.coupon": {"lt": 0}}, False),
        # no coercion: text is not a number, true is not 1
        ({"properties.price": "12.5"}, False),
        ({"properties.price": {"gt": "10"}}, False),
        ({"traits.vip": 1}, False),
        ({"traits.visits": True}, False),
        ({"traits.visits": {"in": [True]}}, False),
        ({"traits.visits": 1.0}, True),
        # a path through something that is not an object
        ({"properties.price.cents": {"exists": True}}, False),
    ],
)
def test_missing_fields_and_types(raw: dict[str, Any], expected: bool) -> None:
    assert where(raw) is expected


def test_none_matches_everything() -> None:
    assert matches(None, {})


def test_plain_data_filters_are_evaluated_too() -> None:
    # a journey version's stored JSON holds filters as plain data
    assert matches({"properties.price": {"gte": 10}, "traits.plan": "pro"}, EVENT)
    assert not matches({"properties.price": {"gte": 100}}, EVENT)
    with pytest.raises(ValueError, match="unknown filter operator 'gtee'"):
        matches({"properties.price": {"gtee": 10}}, EVENT)


def test_lookup() -> None:
    assert lookup(EVENT, "context.campaign.source") == "newsletter"
    assert lookup(EVENT, "items.0.sku") == "A"
    assert lookup(EVENT, "properties.missing.deeper") is None
    assert lookup(EVENT, "properties.sku.0") is None


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"a": {"gtee": 1}}, "unknown operator 'gtee'; use one of eq, ne, gt, gte"),
        ({"a": {}}, "no operator; use one of eq, ne"),
        ({"a": [1, 2]}, "a list here is ambiguous: write {in: [...]}"),
        ({"a": {"gt": True}}, "must be a number or text to compare with, not True"),
        ({"a": {"in": "x"}}, "Input should be a valid list"),
        ({"a": {"exists": "yes"}}, "Input should be a valid boolean"),
        ({"a..b": 1}, "not a field path: 'a..b'"),
    ],
)
def test_invalid_filters(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_where(raw)
    assert message in str(caught.value)


def test_dumps_as_written() -> None:
    raw = {
        "traits.plan": "pro",
        "properties.price": {"gte": 10, "lt": 100},
        "properties.coupon": None,
        "properties.dims": {"eq": {"w": 1}},
        "properties.tags": {"in": ["a"]},
    }
    adapter: TypeAdapter[Any] = TypeAdapter(Where)
    assert adapter.dump_python(parse_where(raw), mode="json") == raw


def test_a_bad_operator_in_a_file_is_reported_at_its_line() -> None:
    text = (
        HEAD.replace(
            "entry: {event: Signed Up, key: properties.account}",
            "entry:\n  event: Signed Up\n  where:\n    properties.plan: {gtee: 10}",
        )
        + "  - {id: fin, type: exit}\n"
    )
    assert one_problem(text) == (
        "j.yaml:5:5: entry.where.properties.plan: unknown operator 'gtee'; use one of eq, ne, "
        "gt, gte, lt, lte, in, not_in, contains, exists"
    )
