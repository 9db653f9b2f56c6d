"""Sample data: a small shop's customers walking the journey, as Segment calls.

Awareness (campaign landing pages), consideration (product views), decision (cart,
checkout), purchase (orders), retention (repeat orders) and advocacy (reviews, NPS).
Deterministic for a seed, with stable messageIds, so loading it twice adds nothing.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

CAMPAIGNS = [
    {"source": "google", "medium": "cpc", "name": "brand-search"},
    {"source": "newsletter", "medium": "email", "name": "autumn-sale"},
    {"source": "instagram", "medium": "social", "name": "new-arrivals"},
    {"source": "partner-blog", "medium": "referral", "name": "reviews"},
]
PRODUCTS = [
    ("SKU-101", "Trail Runner", "shoes", 89.0),
    ("SKU-102", "Rain Jacket", "outerwear", 129.0),
    ("SKU-103", "Merino Socks", "accessories", 14.5),
    ("SKU-104", "Day Pack", "bags", 59.0),
    ("SKU-105", "Insulated Bottle", "accessories", 24.0),
]
COUNTRIES = ["GB", "DE", "FR", "NL", "US", "AT", "CH"]


class _Customer:
    """One customer's clock and message numbering."""

    def __init__(self, *, prefix: str, at: datetime, end: datetime, rng: random.Random) -> None:
        self.prefix, self.at, self.end, self.rng, self.seq = prefix, at, end, rng, 0

    def call(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        self.at += timedelta(seconds=self.rng.uniform(20, 600))
        return {
            "type": kind,
            "messageId": f"{self.prefix}-{self.seq}",
            "timestamp": min(self.at, self.end).isoformat(),
            **fields,
        }


def sample_calls(
    customers: int = 200, *, days: int = 30, seed: int = 7, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Yield Segment calls for ``customers`` customers over the last ``days`` days."""
    rng = random.Random(seed)
    end = now or datetime.now(UTC)
    for c in range(customers):
        anon, user = f"anon-{seed}-{c}", f"customer-{c}"
        start = end - timedelta(days=days) + timedelta(seconds=rng.uniform(0, days * 68000))
        customer = _Customer(prefix=f"sample-{seed}-{c}", at=start, end=end, rng=rng)
        call = customer.call
        campaign = rng.choice(CAMPAIGNS)
        context = {"campaign": campaign, "library": {"name": "wayline-sample", "version": "1"}}
        yield call(
            "page",
            anonymousId=anon,
            name="Landing",
            context=context,
            properties={"path": f"/lp/{campaign['name']}"},
        )
        if rng.random() < 0.25:
            continue  # bounced
        viewed = rng.sample(PRODUCTS, rng.randint(1, 3))
        for sku, name, category, price in viewed:
            yield call(
                "track",
                anonymousId=anon,
                event="Product Viewed",
                properties={
                    "product_id": sku,
                    "name": name,
                    "category": category,
                    "price": price,
                    "currency": "EUR",
                },
            )
        if rng.random() < 0.4:
            continue
        cart = f"cart-{seed}-{c}"
        sku, name, category, price = viewed[0]
        yield call(
            "track",
            anonymousId=anon,
            event="Product Added",
            properties={"cart_id": cart, "product_id": sku, "price": price, "quantity": 1},
        )
        yield call(
            "identify",
            userId=user,
            anonymousId=anon,
            traits={
                "email": f"{user}@example.com",
                "first_name": f"Customer {c}",
                "country": rng.choice(COUNTRIES),
            },
        )
        if rng.random() < 0.35:
            continue  # abandoned the cart
        orders = 1 + (rng.random() < 0.3) + (rng.random() < 0.1)
        for n in range(orders):
            if n:
                customer.at += timedelta(days=rng.uniform(3, 12))
            yield call(
                "track",
                userId=user,
                event="Order Completed",
                properties={
                    "order_id": f"order-{seed}-{c}-{n}",
                    "cart_id": cart,
                    "total": round(price * rng.randint(1, 3), 2),
                    "currency": "EUR",
                },
            )
        if rng.random() < 0.4:
            yield call(
                "track",
                userId=user,
                event="Review Submitted",
                properties={"product_id": sku, "rating": rng.choice([3, 4, 5, 5])},
            )
            yield call(
                "track",
                userId=user,
                event="NPS Submitted",
                properties={"score": rng.choice([6, 8, 9, 10])},
            )
