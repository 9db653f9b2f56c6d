"""Batch evaluation in the warehouse agrees with the per-customer evaluator on the edges.

Hand-made customers, each built to sit on one side of a boundary (a window exactly W long,
steps at the same moment, first and last occurrence bounds, missing and mistyped traits,
dates written as text), are evaluated both ways: compiled to SQL over the warehouse
(DuckDB and PostgreSQL, with the state store on SQLite and PostgreSQL) and one at a time
with :func:`wayline.segments.evaluate.evaluate`. Each segment must have members and
non-members, so each comparison can fail.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from wayline.analytics.warehouse import Warehouse
from wayline.segments.batch import evaluate_warehouse
from wayline.segments.evaluate import Facts, Happening, evaluate
from wayline.segments.loading import read_segment_text
from wayline.segments.membership import in_order
from wayline.segments.store import SegmentStore
from wayline.store import Store, schema
from wayline.store.base import Cursor
from wayline.store.sql import SqlStore

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)
DAY = timedelta(days=1)


@dataclass
class Person:
    traits: dict[str, Any] = field(default_factory=dict)
    #: (event, time, properties)
    events: list[tuple[str, datetime, dict[str, Any]]] = field(default_factory=list)
    anonymous: bool = False
    #: journey id -> nodes
    journeys: dict[str, set[str]] = field(default_factory=dict)


def ago(days: float = 0, **parts: float) -> datetime:
    return NOW - timedelta(days=days, **parts)


PEOPLE: dict[str, Person] = {
    # window boundaries: exactly 7 days ago is out, a microsecond later is in
    "edge-out": Person({"plan": "pro"}, [("Signed In", ago(7), {})]),
    "edge-in": Person({"plan": "free"}, [("Signed In", ago(7) + timedelta(microseconds=1), {})]),
    "future": Person({}, [("Signed In", NOW + timedelta(seconds=1), {})]),
    "at-now": Person({"plan": 3}, [("Signed In", NOW, {})], anonymous=True),
    # sequences: same moment does not chain; exactly within does
    "same-moment": Person({"plan": None}, [("Viewed", ago(1), {}), ("Added", ago(1), {})]),
    "exact-hour": Person(
        {"plan": True},
        [("Viewed", ago(1), {}), ("Added", ago(1) + timedelta(hours=1), {})],
    ),
    "late-add": Person(
        {"plan": "pro"},
        [("Viewed", ago(1), {}), ("Added", ago(1) + timedelta(hours=1, microseconds=1), {})],
    ),
    "restart": Person(
        {},
        [
            ("Viewed", ago(5), {}),
            ("Viewed", ago(2), {}),
            ("Added", ago(2) + timedelta(minutes=5), {}),
            ("Ordered", ago(2) + timedelta(minutes=5), {}),
            ("Ordered", ago(2) + timedelta(minutes=6), {"total": 250}),
        ],
    ),
    "self-seq": Person({}, [("Viewed", ago(3), {}), ("Viewed", ago(3) + timedelta(minutes=2), {})]),
    # counts and filters
    "orders": Person(
        {"lifetime_revenue": 250, "created_at": "2025-06-01"},
        [
            ("Ordered", ago(40), {"total": 200}),
            ("Ordered", ago(10), {"total": "200"}),
            ("Ordered", ago(2), {"total": 199.5, "tags": ["a", "b"]}),
        ],
    ),
    "one-order": Person(
        {"lifetime_revenue": "250", "created_at": "2026-02-20T10:00:00Z"},
        [("Ordered", ago(30), {"total": 200.0, "tags": ["b"]})],
    ),
    "first-old": Person(
        {"lifetime_revenue": 199.99, "created_at": "not a date", "email_subscribe": "opted_in"},
        [("Ordered", ago(61), {}), ("Ordered", ago(1), {"total": True})],
        journeys={"welcome": {"wait"}},
    ),
    "nothing": Person(
        {
            "created_at": 20260101,
            "unsubscribed": True,
            "address": {"country": "DE"},
            "tags": ["vip", 1],
        }
    ),
    "dated": Person(
        {
            "created_at": "2026-02-28 12:00:00+01:00",
            "email_subscribe": "unsubscribed",
            "sms_subscribe": "opted_in",
            "address": {"country": "AT"},
            "tags": ["1"],
        },
        journeys={"welcome": {"done-soon"}, "other": {"x"}},
    ),
    # ids and traits that a CSV or a JSON path could trip on
    'odd,"id"\nline': Person(
        {"plan": 'pro "max",\nplus', "address": {"country": "DE"}},
        [("Signed In", ago(1), {}), ("Ordered", ago(1), {"total": 250, "tags": ["b"]})],
    ),
}

SEGMENTS = {
    "signed-7d": "{event: Signed In, within: 7d}",
    "not-signed-7d": "{event: Signed In, at_most: 0, within: 7d}",
    "never-signed": "{event: Signed In, at_most: 0}",
    "view-add": "{sequence: {steps: [{event: Viewed}, {event: Added}], within: 1h}}",
    "view-add-ever": "{sequence: {steps: [{event: Viewed}, {event: Added}]}}",
    "funnel": (
        "{sequence: {steps: [{event: Viewed}, {event: Added}, "
        "{event: Ordered, where: {properties.total: {gte: 200}}}], within: 1d}}"
    ),
    "view-twice": "{sequence: {steps: [{event: Viewed}, {event: Viewed}], within: 5m}}",
    "two-orders-30d": "{event: Ordered, at_least: 2, within: 30d}",
    "one-two-orders": "{event: Ordered, at_least: 1, at_most: 2}",
    "big-order": "{event: Ordered, where: {properties.total: {gte: 200}}}",
    "text-total": "{event: Ordered, where: {properties.total: '200'}}",
    "total-200": "{event: Ordered, where: {properties.total: 200}}",
    "tagged-b": "{event: Ordered, where: {properties.tags: {contains: b}}}",
    "no-total": "{event: Ordered, where: {properties.total: {exists: false}}}",
    "first-60d": "{event: Ordered, first: {older_than: 60d}}",
    "first-recent": "{event: Ordered, first: {within: 31d}}",
    "last-30d-old": "{event: Ordered, last: {older_than: 30d}}",
    "last-before": "{event: Ordered, last: {before: 2026-02-01, after: 2026-01-01}}",
    "pro": "{trait: plan, eq: pro}",
    "not-pro": "{trait: plan, ne: pro}",
    "plan-true": "{trait: plan, eq: true}",
    "plan-3": "{trait: plan, in: [3, free]}",
    "plan-not-in": "{trait: plan, not_in: [pro, free]}",
    "has-plan": "{trait: plan, exists: true}",
    "no-plan": "{trait: plan, exists: false}",
    "rich": "{trait: lifetime_revenue, gte: 200}",
    "rich-text": "{trait: lifetime_revenue, gt: '2'}",
    "poor": "{trait: lifetime_revenue, lt: 200}",
    "old": "{trait: created_at, older_than: 30d}",
    "recent": "{trait: created_at, within: 10d}",
    "before-2026": "{trait: created_at, before: 2026-01-01}",
    "after-feb": "{trait: created_at, after: 2026-02-01, exists: true}",
    "german": "{trait: address.country, eq: DE}",
    "tag-1": "{trait: tags, contains: '1'}",
    "tag-vip": "{trait: tags.0, eq: vip}",
    "subscribed": "{subscription: email}",
    "opted-in": "{subscription: email, status: opted_in}",
    "unsubscribed": "{subscription: email, status: unsubscribed}",
    "sms-opted": "{subscription: sms, status: opted_in}",
    "in-welcome": "{journey: welcome}",
    "waiting": "{journey: welcome, node: wait}",
    "pro-or-signed": "{any: [{segment: pro}, {segment: signed-7d}]}",
    "rich-not-pro": "{all: [{segment: rich}, {not: {segment: pro}}]}",
    "ghost": "{all: [{not: {segment: missing}}, {trait: plan, exists: true}]}",
}


def _fill(store: SqlStore, warehouse: Warehouse, workspace: str) -> dict[str, str]:
    """Write the people (profiles, identities, journeys, events); returns id -> profile."""
    profiles: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    with store.engine.begin() as conn:
        for n, (key, person) in enumerate(PEOPLE.items()):
            profile_id = f"p-{key}"
            profiles[key] = profile_id
            conn.execute(
                sa.insert(schema.profiles).values(
                    id=profile_id,
                    workspace_id=workspace,
                    traits=orjson.dumps(person.traits).decode(),
                    trait_times="{}",
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
            kind = "anonymous_id" if person.anonymous else "user_id"
            conn.execute(
                sa.insert(schema.identities).values(
                    workspace_id=workspace,
                    kind=kind,
                    value=key,
                    profile_id=profile_id,
                    first_seen=NOW,
                )
            )
            for journey, nodes in person.journeys.items():
                for node in nodes:
                    conn.execute(
                        sa.insert(schema.journey_instances).values(
                            workspace_id=workspace,
                            journey_id=journey,
                            version=1,
                            profile_id=profile_id,
                            entry_key="",
                            node=node,
                            state="waiting",
                            context="{}",
                            entered_at=NOW,
                            updated_at=NOW,
                        )
                    )
            for i, (name, at, props) in enumerate(person.events):
                rows.append(
                    {
                        "workspace_id": workspace,
                        "seq": n * 100 + i + 1,
                        "message_id": f"m{n}-{i}",
                        "type": "track",
                        "event": name,
                        "user_id": None if person.anonymous else key,
                        "anonymous_id": key if person.anonymous else None,
                        "timestamp": at,
                        "received_at": at,
                        "properties": orjson.dumps(props).decode(),
                        "context": None,
                        "traits": None,
                        "payload": "{}",
                    }
                )
        # a customer who left a journey is in it no more
        conn.execute(
            sa.insert(schema.journey_instances).values(
                workspace_id=workspace,
                journey_id="welcome",
                version=1,
                profile_id=profiles["nothing"],
                entry_key="",
                node="wait",
                state="done",
                context="{}",
                entered_at=NOW,
                updated_at=NOW,
            )
        )
    # another workspace's events and a page view, which no segment sees
    rows.append({**rows[0], "workspace_id": "elsewhere", "seq": 99_999, "message_id": "x1"})
    rows.append({**rows[0], "type": "page", "seq": 99_998, "message_id": "x2"})
    columns = {name: [r[name] for r in rows] for name in rows[0]}
    with warehouse.load() as batch:
        batch.append(columns, Cursor(txid=1, seq=max(r["seq"] for r in rows)))
    return profiles


def _expected(store: SqlStore, workspace: str, profiles: dict[str, str]) -> dict[str, set[str]]:
    with store.engine.connect() as conn:
        records = in_order(SegmentStore(store).records(conn, workspace))
    out: dict[str, set[str]] = {r.segment_id: set() for r in records}
    for key, person in PEOPLE.items():
        events: dict[str, list[Happening]] = {}
        for seq, (name, at, props) in enumerate(person.events):
            events.setdefault(name, []).append(
                Happening(name=name, at=at, seq=seq, data={"properties": props, "context": {}})
            )
        for history in events.values():
            history.sort(key=lambda e: (e.at, e.seq))
        facts = Facts(traits=person.traits, events=events, journeys=person.journeys)
        for r in records:
            if evaluate(r.segment.where, facts, NOW).met:
                facts.members.add(r.segment_id)
                out[r.segment_id].add(profiles[key])
    return out


def test_batch_in_the_warehouse_equals_the_evaluator(store: Store, warehouse: Warehouse) -> None:
    assert isinstance(store, SqlStore)
    workspace = store.create_workspace("edges").workspace.id
    with store.engine.begin() as conn:
        for sid, text in SEGMENTS.items():
            segment = read_segment_text(f"id: {sid}\nwhere: {text}\n").segment
            SegmentStore(store).save(conn, workspace, segment, NOW)
    profiles = _fill(store, warehouse, workspace)

    batch = evaluate_warehouse(store, warehouse, workspace, NOW)
    expected = _expected(store, workspace, profiles)

    everyone = set(profiles.values())
    for sid in SEGMENTS:
        assert 0 < len(expected[sid]) < len(everyone), sid
        assert batch[sid] == expected[sid], sid
    some = evaluate_warehouse(store, warehouse, workspace, NOW, {"rich-not-pro", "nope"})
    assert some == {"rich-not-pro": expected["rich-not-pro"]}
