"""A few hundred customers' carts over several days, and what the abandoned-cart journey
must do with them, worked out here from the journey's rules (not by the engine)."""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.unit.journeys.example import EXAMPLE

#: The journey of docs/journeys.md, sending on the ``log`` channel.
JOURNEY = EXAMPLE.replace("channel: email", "channel: log")
START = datetime(2026, 3, 2, tzinfo=UTC)
END = START + timedelta(days=5)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def track(user: str, event: str, at: datetime, n: int, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": event,
        "properties": properties,
        "timestamp": at.isoformat(),
        "messageId": f"m{n}",
    }


@dataclass
class Carts:
    """The events, and per cart: who, when it entered, when its order came."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    #: (user, cart, entered at, ordered at or None), for carts that enter the journey
    entries: list[tuple[str, str, datetime, datetime | None]] = field(default_factory=list)
    refused: Counter[str] = field(default_factory=Counter)

    def add(self, message: dict[str, Any]) -> None:
        self.messages.append(message)


def make_carts(customers: int = 300, seed: int = 7) -> Carts:
    """Customers add a cart over four days; kind by number: 0 never orders (every tenth
    adds a cheap item, which does not enter), 1 orders within 20 minutes, 2 after 3 hours,
    3 after two days, 4 never, and adds to the same cart again 10 minutes later (refused:
    already inside). Every third of kind 1 adds to the cart again two days after ordering
    (refused: cooldown). Every seventh also opens a second cart, never ordered. Identifies
    and page views are mixed in, and events before the period and of the period's end."""
    rng = random.Random(seed)
    carts = Carts()
    n = 0

    def emit(message: dict[str, Any]) -> None:
        nonlocal n
        carts.add(message)
        n += 1

    for i in range(customers):
        user, cart = f"u{i}", f"c{i}"
        kind = i % 5
        t0 = START + timedelta(minutes=rng.randrange(0, 4 * 24 * 60), seconds=7)
        price = 5 if i % 10 == 0 else 30
        emit(track(user, "Product Added", t0, n, cart_id=cart, price=price))
        emit(
            {
                "type": "identify",
                "userId": user,
                "traits": {"email": f"{user}@example.com", "plan": "free" if i % 2 else "pro"},
                "timestamp": (t0 - timedelta(minutes=5)).isoformat(),
                "messageId": f"m{n}",
            }
        )
        n += 1
        emit(
            {
                "type": "page",
                "userId": user,
                "name": "Cart",
                "timestamp": (t0 + timedelta(minutes=2)).isoformat(),
                "messageId": f"m{n}",
            }
        )
        n += 1
        ordered = {1: t0 + timedelta(minutes=20), 2: t0 + 3 * HOUR, 3: t0 + 2 * DAY}.get(kind)
        if ordered is not None:
            emit(track(user, "Order Completed", ordered, n, cart_id=cart, total=30))
        if price < 10:
            continue
        in_window = ordered if ordered is not None and ordered < END else None
        carts.entries.append((user, cart, t0, in_window))
        if kind == 4:
            again = t0 + timedelta(minutes=10)
            emit(track(user, "Product Added", again, n, cart_id=cart, price=30))
            if again < END:
                carts.refused["already_inside"] += 1
        if kind == 1 and i % 3 == 0 and ordered is not None:
            again = ordered + 2 * DAY
            emit(track(user, "Product Added", again, n, cart_id=cart, price=30))
            if again < END:
                carts.refused["cooldown"] += 1
        if i % 7 == 0:
            second = t0 + timedelta(minutes=90)
            emit(track(user, "Product Added", second, n, cart_id=cart + "b", price=12))
            if second < END:
                carts.entries.append((user, cart + "b", second, None))
    # outside the period: before it, and at its very end (the end is not included)
    emit(track("early", "Product Added", START - DAY, n, cart_id="e1", price=30))
    emit(track("late", "Product Added", END, n, cart_id="l1", price=30))
    carts.entries = [e for e in carts.entries if e[2] < END]
    return carts


def variant(workspace_id: str, profile_id: str) -> str:
    """The split's sticky rule, as documented: a hash of workspace, journey, node, customer
    into 10,000 buckets, given out in the order of the variants."""
    seed = f"{workspace_id}:abandoned-cart:split:{profile_id}"
    point = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") % 10_000
    return "discount" if point < 4500 else "no_discount" if point < 9000 else "control"


@dataclass
class Expected:
    entries: int = 0
    customers: int = 0
    converted: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    inside: int = 0
    reached: Counter[str] = field(default_factory=Counter)
    waiting: Counter[str] = field(default_factory=Counter)
    variants: Counter[str] = field(default_factory=Counter)
    #: (channel, node) -> messages
    messages: Counter[tuple[str, str]] = field(default_factory=Counter)


def expect(carts: Carts, profile_of: dict[str, str], workspace_id: str) -> Expected:
    """Walk each entered cart through the journey's rules by hand."""
    out = Expected(entries=len(carts.entries), customers=len({u for u, *_ in carts.entries}))
    for user, _cart, t0, ordered in carts.entries:
        out.reached["wait_checkout"] += 1
        timeout = t0 + HOUR
        if ordered is not None and ordered < timeout:
            out.converted += 1
            out.outcomes["goal"] += 1
            continue
        if timeout >= END:
            out.waiting["wait_checkout"] += 1
            continue
        out.reached.update(["notify_crm", "reminder", "wait_a_day"])
        out.messages.update([("webhook", "notify_crm"), ("log", "reminder")])
        day_later = timeout + DAY
        if ordered is not None and ordered < day_later:
            out.converted += 1
            out.outcomes["goal"] += 1
            continue
        if day_later >= END:
            out.waiting["wait_a_day"] += 1
            continue
        chosen = variant(workspace_id, profile_of[user])
        out.variants[chosen] += 1
        out.reached.update(["opened", "split", "done"])
        if chosen == "discount":
            out.reached["send_discount"] += 1
            out.messages[("log", "send_discount")] += 1
        out.outcomes["completed"] += 1
    out.inside = sum(out.waiting.values())
    return out
