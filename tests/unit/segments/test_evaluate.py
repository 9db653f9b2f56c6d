"""The evaluator: each condition kind, and the moment its answer next changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from wayline.segments.evaluate import Facts, Happening, evaluate
from wayline.segments.spec import Segment

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


def cond(data: dict[str, Any]) -> Any:
    return Segment.model_validate({"id": "s", "where": data}).where


def facts(*events: tuple[str, timedelta, dict[str, Any]], **traits: Any) -> Facts:
    by_name: dict[str, list[Happening]] = {}
    for i, (name, ago, props) in enumerate(events):
        by_name.setdefault(name, []).append(
            Happening(name=name, at=NOW - ago, seq=i, data={"properties": props})
        )
    for history in by_name.values():
        history.sort(key=lambda e: (e.at, e.seq))
    return Facts(traits=traits, events=by_name)


def test_at_least_in_a_window_and_when_it_runs_out() -> None:
    c = cond({"event": "Order", "at_least": 2, "within": "30d"})
    f = facts(
        ("Order", timedelta(days=40), {}),
        ("Order", timedelta(days=20), {}),
        ("Order", timedelta(days=1), {}),
    )
    out = evaluate(c, f, NOW)
    assert out.met
    # two in the window; it fails when the older of them (20 days ago) leaves
    assert out.next == NOW + timedelta(days=10)
    assert not evaluate(c, f, NOW + timedelta(days=10)).met
    assert evaluate(c, f, NOW + timedelta(days=10) - timedelta(seconds=1)).met


def test_at_most_and_property_filters() -> None:
    c = cond({"event": "Order", "at_most": 1, "where": {"properties.total": {"gte": 100}}})
    f = facts(
        ("Order", timedelta(days=3), {"total": 150}), ("Order", timedelta(days=2), {"total": 50})
    )
    assert evaluate(c, f, NOW).met
    f2 = facts(
        ("Order", timedelta(days=3), {"total": 150}), ("Order", timedelta(days=2), {"total": 500})
    )
    assert not evaluate(c, f2, NOW).met


def test_first_and_last_occurrence() -> None:
    f = facts(("Order", timedelta(days=90), {}), ("Order", timedelta(days=10), {}))
    assert evaluate(cond({"event": "Order", "first": {"older_than": "60d"}}), f, NOW).met
    last = evaluate(cond({"event": "Order", "last": {"older_than": "30d"}}), f, NOW)
    assert (last.met, last.next) == (False, NOW + timedelta(days=20))
    assert not evaluate(cond({"event": "Refund", "last": {"within": "30d"}}), f, NOW).met


def test_sequences_need_order_and_fit_in_the_window() -> None:
    c = cond({"sequence": {"steps": [{"event": "View"}, {"event": "Add"}], "within": "1h"}})
    in_order = facts(("View", timedelta(hours=5), {}), ("Add", timedelta(hours=4, minutes=30), {}))
    too_slow = facts(("View", timedelta(hours=5), {}), ("Add", timedelta(hours=3), {}))
    backwards = facts(("Add", timedelta(hours=5), {}), ("View", timedelta(hours=4, minutes=59), {}))
    assert evaluate(c, in_order, NOW).met
    assert not evaluate(c, too_slow, NOW).met
    assert not evaluate(c, backwards, NOW).met


def test_traits_dates_and_subscriptions() -> None:
    f = facts(
        created_at=(NOW - timedelta(days=10)).isoformat(),
        plan="pro",
        email_subscribe="unsubscribed",
    )
    older = evaluate(cond({"trait": "created_at", "older_than": "30d"}), f, NOW)
    assert (older.met, older.next) == (False, NOW + timedelta(days=20))
    assert evaluate(cond({"trait": "created_at", "after": "2026-01-01"}), f, NOW).met
    assert evaluate(cond({"trait": "plan", "in": ["pro", "team"]}), f, NOW).met
    assert not evaluate(cond({"trait": "missing", "exists": True}), f, NOW).met
    assert evaluate(cond({"subscription": "email", "status": "unsubscribed"}), f, NOW).met
    assert evaluate(cond({"subscription": "sms"}), f, NOW).met


def test_all_any_not_and_other_segments() -> None:
    f = facts(plan="pro")
    f.members.add("vip")
    c = cond({"all": [{"segment": "vip"}, {"not": {"trait": "plan", "eq": "free"}}]})
    assert evaluate(c, f, NOW).met
    assert not evaluate(
        cond({"any": [{"segment": "other"}, {"trait": "plan", "eq": "free"}]}), f, NOW
    ).met
