"""The sample shop's data: Segment e-commerce events that fill every stage of the
``ecommerce`` preset, with a realistic share of stalled customers, the same for a seed."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

from wayline.analytics.stage_model import preset
from wayline.sample import sample_calls
from wayline.segments.evaluate import Happening
from wayline.stages.placement import Entry, Plan, entries, typical_seconds

NOW = datetime(2026, 3, 1, tzinfo=UTC)
#: The Segment e-commerce spec's events the sample may send.
ECOMMERCE_SPEC = {
    "Products Searched",
    "Product List Viewed",
    "Product Viewed",
    "Product Added",
    "Cart Viewed",
    "Checkout Started",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Order Completed",
    "Product Reviewed",
    "Product Shared",
}


def _histories(customers: int) -> dict[str, list[Entry]]:
    plan = Plan.of(preset("ecommerce"))
    events: dict[str, dict[str, list[Happening]]] = defaultdict(lambda: defaultdict(list))
    for call in sample_calls(customers, now=NOW):
        name = call.get("event") or ("Page Viewed" if call["type"] == "page" else None)
        if name is None:
            continue
        customer = call["anonymousId"]
        seen = events[customer][name]
        at = datetime.fromisoformat(call["timestamp"])
        seen.append(Happening(name=name, at=at, seq=len(seen), data=call))
    return {c: entries(plan, e, []) for c, e in events.items()}


def test_same_seed_same_calls_with_unique_ids() -> None:
    first = list(sample_calls(50, now=NOW))
    assert first == list(sample_calls(50, now=NOW))
    assert first != list(sample_calls(50, now=NOW, seed=8))
    ids = [c["messageId"] for c in first]
    assert len(ids) == len(set(ids))


def test_events_are_those_of_the_ecommerce_spec() -> None:
    names = {c["event"] for c in sample_calls(300, now=NOW) if c["type"] == "track"}
    assert names == ECOMMERCE_SPEC
    model = preset("ecommerce")
    assert {"Checkout Started", "Product Reviewed"} <= {
        r.event for s in model.stages for r in s.rules()
    }


def test_every_stage_has_customers_and_some_stall() -> None:
    model = preset("ecommerce")
    histories = _histories(1000)
    typical = typical_seconds(list(histories.values()), len(model.stages))
    current: dict[int, int] = defaultdict(int)
    stalled = 0
    for found in histories.values():
        last = max(found, key=lambda e: e.index)
        current[last.index] += 1
        threshold = typical.get(last.index)
        if threshold is not None:
            stalled += (NOW - last.at).total_seconds() > threshold * model.stall_factor
    assert sum(current.values()) == 1000
    assert all(current[i] > 0 for i in range(len(model.stages))), current
    # most visitors leave before buying and many of them are stalled, but not nearly all
    assert 0.3 < stalled / 1000 < 0.7, stalled


def test_campaigns_are_in_the_context() -> None:
    calls = list(sample_calls(200, now=NOW))
    sources = {c["context"]["campaign"]["source"] for c in calls if "campaign" in c["context"]}
    assert {"google", "newsletter"} <= sources
    orders = [c for c in calls if c.get("event") == "Order Completed"]
    assert orders
    assert all(o["properties"]["revenue"] > 0 and o["userId"] for o in orders)
