"""The real Segment and RudderStack clients deliver 10,000 mixed calls each to ``wayline serve``.

Afterwards Wayline holds exactly the events sent (each re-sent messageId once), and every
customer's identities and traits are merged as the calls said.
"""

from __future__ import annotations

import gzip
import json
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import rudderstack.analytics.request as rudder_request
import segment.analytics.request as segment_request
from rudderstack.analytics.client import Client as RudderClient
from segment.analytics import Client as SegmentClient

from tests.acceptance.harness import WaylineServer, Workspace

SDKS = ("segment", "rudderstack")
#: Calls each client makes, re-sent ones included.
CALLS = 10_000
USERS = 400
#: Users who first show up under a second anonymousId that an alias then ties to them.
ALIASED_EVERY = 4
#: Track calls sent twice with the same messageId: at once (often in the same batch), and
#: again after a flush (a retry in a later batch).
RESENT_AT_ONCE = 300
RESENT_LATER = 300
#: Identify calls carry explicit times a day apart, so "the latest trait wins" has one answer.
FIRST_IDENTIFY = datetime(2025, 3, 1, tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class Call:
    method: str
    kwargs: dict[str, Any]

    @property
    def message_id(self) -> str:
        mid: str = self.kwargs["message_id"]
        return mid


@dataclass(kw_only=True)
class Customer:
    number: int
    user_id: str
    anonymous_id: str
    email: str
    #: The anonymousId an alias ties to the user, if any.
    alias_of: str | None = None
    calls: list[Call] = field(default_factory=list)

    def add(self, method: str, **kwargs: Any) -> None:
        mid = f"{self.user_id}-{len(self.calls)}"
        self.calls.append(Call(method=method, kwargs={**kwargs, "message_id": mid}))

    @property
    def identities(self) -> set[tuple[str, str]]:
        ids = {
            ("user_id", self.user_id),
            ("anonymous_id", self.anonymous_id),
            ("email", self.email.lower()),
        }
        if self.alias_of is not None:
            ids.add(("anonymous_id", self.alias_of))
        return ids


@dataclass(kw_only=True)
class Plan:
    customers: list[Customer]
    #: In sending order, re-sends included, except the late ones.
    calls: list[Call]
    late: list[Call]

    @property
    def distinct(self) -> dict[str, Call]:
        return {c.message_id: c for c in self.calls}


def plan(prefix: str) -> Plan:
    """10,000 identify, page, track and alias calls for 400 customers, interleaved."""
    rng = random.Random(prefix)
    customers: list[Customer] = []
    for i in range(USERS):
        c = Customer(
            number=i,
            user_id=f"{prefix}-user-{i}",
            anonymous_id=f"{prefix}-anon-{i}",
            # Mixed case: the email identity is matched case-insensitively.
            email=f"{prefix}-User-{i}@Example.com",
            alias_of=f"{prefix}-anon2-{i}" if i % ALIASED_EVERY == 0 else None,
        )
        customers.append(c)

        c.add(
            "page",
            anonymous_id=c.anonymous_id,
            category="Docs",
            name="Pricing",
            properties={"path": "/pricing"},
        )
        c.add(
            "identify",
            user_id=c.user_id,
            anonymous_id=c.anonymous_id,
            traits={"email": c.email, "plan": "free", "n": i},
            timestamp=FIRST_IDENTIFY + timedelta(minutes=i),
        )
        if c.alias_of is not None:
            c.add("track", anonymous_id=c.alias_of, event="App Opened", properties={})
            c.add("alias", previous_id=c.alias_of, user_id=c.user_id)
    fixed = sum(len(c.calls) for c in customers) + USERS  # + the second identify each
    tracks = CALLS - RESENT_AT_ONCE - RESENT_LATER - fixed
    for k in range(tracks):
        c = customers[k % USERS]
        c.calls.append(
            Call(
                method="track",
                kwargs={
                    "user_id": c.user_id,
                    "event": rng.choice(["Product Viewed", "Product Added", "Order Completed"]),
                    "properties": {"sku": f"S{k}", "price": rng.randint(1, 500), "k": k},
                    "message_id": f"{prefix}-t{k}",
                },
            )
        )
    for i, c in enumerate(customers):
        c.calls.append(
            Call(
                method="identify",
                kwargs={
                    "user_id": c.user_id,
                    "traits": {"plan": "pro"},
                    "timestamp": FIRST_IDENTIFY + timedelta(days=1, minutes=i),
                    "message_id": f"{prefix}-identify2-{i}",
                },
            )
        )

    # Interleave the customers, each one's calls in order, as many users of one app would.
    calls: list[Call] = []
    for step in range(max(len(c.calls) for c in customers)):
        calls.extend(c.calls[step] for c in customers if step < len(c.calls))
    tracks_sent = [n for n, call in enumerate(calls) if call.method == "track"]
    at_once = set(rng.sample(tracks_sent, RESENT_AT_ONCE))
    with_resends: list[Call] = []
    for n, call in enumerate(calls):
        with_resends.append(call)
        if n in at_once:
            with_resends.append(call)
    late = [calls[n] for n in rng.sample(tracks_sent, RESENT_LATER)]
    assert len(with_resends) + len(late) == CALLS
    return Plan(customers=customers, calls=with_resends, late=late)


@dataclass(frozen=True, kw_only=True)
class Sent:
    """One HTTP request the client made, as recorded by a ``requests`` response hook."""

    status: int
    content_encoding: str | None
    body: bytes

    def messages(self) -> list[dict[str, Any]]:
        raw = gzip.decompress(self.body) if self.content_encoding == "gzip" else self.body
        batch: list[dict[str, Any]] = json.loads(raw)["batch"]
        return batch


def deliver(sdk: str, server: WaylineServer, ws: Workspace, p: Plan) -> list[Sent]:
    """Send the plan through the real client; return every request it made."""
    errors: list[str] = []
    sent: list[Sent] = []

    def record(response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        body = response.request.body
        encoding = response.request.headers.get("Content-Encoding")
        sent.append(
            Sent(
                status=response.status_code,
                content_encoding=encoding.decode() if isinstance(encoding, bytes) else encoding,
                body=body if isinstance(body, bytes) else str(body or "").encode(),
            )
        )

    session: requests.Session
    options: dict[str, Any] = {
        "write_key": ws.write_key,
        "host": server.url,
        "max_queue_size": CALLS * 2,
        "upload_size": 200,
        "max_retries": 3,
        "on_error": lambda exc, _batch: errors.append(repr(exc)),
    }
    if sdk == "segment":
        session = segment_request._session
        client: Any = SegmentClient(**options)
    else:
        session = rudder_request._session
        # RudderStack gzips by default; say so, since what is tested here is a gzipped feed.
        client = RudderClient(**options, gzip=True)
        assert client.gzip is True
    session.hooks["response"].append(record)
    try:
        for call in p.calls:
            queued, _ = getattr(client, call.method)(**call.kwargs)
            assert queued, "the client's queue was full: raise max_queue_size"
        client.flush()
        for call in p.late:
            queued, _ = getattr(client, call.method)(**call.kwargs)
            assert queued
        client.flush()
        client.join()
    finally:
        session.hooks["response"].remove(record)
    assert errors == [], f"{len(errors)} delivery errors, first: {errors[0]}"
    return sent


def check_customer(server: WaylineServer, ws: Workspace, c: Customer) -> list[dict[str, Any]]:
    """One profile with the identities and traits sent; its timeline holds its calls, once."""
    profile = server.profile(ws, c.user_id)
    assert profile is not None, c.user_id
    assert profile["user_id"] == c.user_id
    assert {(i["kind"], i["value"]) for i in profile["identities"]} == c.identities, c.user_id
    assert profile["traits"] == {"email": c.email, "plan": "pro", "n": c.number}, c.user_id
    if c.number % 10 == 0:  # every identity finds the same profile (a sample of customers)
        for other in (c.anonymous_id, c.email.upper(), c.alias_of):
            if other is not None:
                again = server.profile(ws, other)
                assert again is not None, other
                assert again["id"] == profile["id"], other
    timeline = server.timeline(ws, profile["id"])
    ids = [e["messageId"] for e in timeline]
    assert len(ids) == len(set(ids)), f"{c.user_id}: an event is there twice"
    assert set(ids) == {call.message_id for call in c.calls}, c.user_id
    return timeline


@pytest.fixture(scope="module")
def workspaces(server: WaylineServer) -> dict[str, Workspace]:
    return dict(zip(SDKS, server.create_workspaces(*SDKS), strict=True))


@pytest.mark.parametrize("sdk", SDKS)
def test_sdk_delivers_mixed_calls_exactly_once_and_merges_identities(
    server: WaylineServer, workspaces: dict[str, Workspace], sdk: str
) -> None:
    ws = workspaces[sdk]
    p = plan(sdk[:3])
    expected = p.distinct
    assert len(expected) == CALLS - RESENT_AT_ONCE - RESENT_LATER
    assert {c.method for c in expected.values()} == {"identify", "page", "track", "alias"}

    sent = deliver(sdk, server, ws, p)

    # The client really batched, every request was answered 200, and the wire format is the
    # one each SDK uses: RudderStack gzipped, Segment plain.
    assert len(sent) >= CALLS // 200
    assert {s.status for s in sent} == {200}
    if sdk == "rudderstack":
        assert {s.content_encoding for s in sent} == {"gzip"}
        assert all(s.body[:2] == b"\x1f\x8b" for s in sent)
    else:
        assert {s.content_encoding for s in sent} == {None}
    on_the_wire = [m["messageId"] for s in sent for m in s.messages()]
    assert len(on_the_wire) == CALLS
    assert set(on_the_wire) == set(expected)

    # Every acknowledged call is committed, so the event count is final at once; profiles
    # are resolved in the background.
    assert server.stats(ws)["events"] == len(expected)
    server.barrier()
    assert server.stats(ws) == {"events": len(expected), "profiles": USERS, "rejected": 0}

    with ThreadPoolExecutor(max_workers=4) as pool:
        timelines = list(pool.map(lambda c: check_customer(server, ws, c), p.customers))
    seen = {event["messageId"]: event for timeline in timelines for event in timeline}
    assert set(seen) == set(expected)
    for mid, event in seen.items():
        call = expected[mid]
        assert event["type"] == call.method, mid
        if call.method == "track":
            assert event["event"] == call.kwargs["event"], mid
            assert event["properties"] == call.kwargs["properties"], mid
        elif call.method == "page":
            assert event["name"] == "Pricing", mid
            assert event["properties"]["path"] == "/pricing", mid
        elif call.method == "alias":
            assert event["previousId"] == call.kwargs["previous_id"], mid
