"""Sample data: a small shop's customers walking the journey, as Segment calls.

The events are those of the Segment e-commerce spec, which the ``ecommerce`` stage preset
reads: awareness (campaign landing pages, searches, product lists), consideration (product
views, carts), decision (checkout), purchase (orders), retention (a second order) and
advocacy (reviews, shares). Most visitors drop out on the way, as in a real shop, and
returning customers come back through a campaign, so the reports have touches to credit.
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
#: Campaigns that bring known customers back.
RETURN_CAMPAIGNS = [
    {"source": "newsletter", "medium": "email", "name": "weekly-picks"},
    {"source": "google", "medium": "cpc", "name": "brand-search"},
    {"source": "facebook", "medium": "paid-social", "name": "retargeting"},
]
PRODUCTS = [
    ("SKU-101", "Trail Runner", "shoes", 89.0),
    ("SKU-102", "Rain Jacket", "outerwear", 129.0),
    ("SKU-103", "Merino Socks", "accessories", 14.5),
    ("SKU-104", "Day Pack", "bags", 59.0),
    ("SKU-105", "Insulated Bottle", "accessories", 24.0),
]
COUNTRIES = ["GB", "DE", "FR", "NL", "US", "AT", "CH"]
FIRST_NAMES = ["Ann", "Ben", "Chloé", "Dev", "Emma", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
LIBRARY = {"name": "wayline-sample", "version": "2"}


class _Customer:
    """One customer's clock, identities and message numbering."""

    def __init__(
        self, *, prefix: str, anon: str, at: datetime, end: datetime, rng: random.Random
    ) -> None:
        self.prefix, self.anon, self.at, self.end, self.rng = prefix, anon, at, end, rng
        self.user: str | None = None
        self.campaign: dict[str, str] | None = None
        self.seq = 0

    def call(self, kind: str, **fields: Any) -> dict[str, Any]:
        self.seq += 1
        self.at += timedelta(seconds=self.rng.uniform(20, 600))
        who: dict[str, Any] = {"anonymousId": self.anon}
        if self.user is not None:
            who["userId"] = self.user
        context: dict[str, Any] = {"library": LIBRARY}
        if self.campaign is not None:
            context["campaign"] = self.campaign
        return {
            "type": kind,
            "messageId": f"{self.prefix}-{self.seq}",
            "timestamp": min(self.at, self.end).isoformat(),
            "context": context,
            **who,
            **fields,
        }

    def track(self, event: str, **properties: Any) -> dict[str, Any]:
        return self.call("track", event=event, properties=properties)

    def landing(self, campaign: dict[str, str]) -> Iterator[dict[str, Any]]:
        """A visit from a campaign, with the campaign as context: its landing page, which
        lists the campaign's products."""
        self.campaign = campaign
        yield self.call("page", name="Landing", properties={"path": f"/lp/{campaign['name']}"})
        yield self.track("Product List Viewed", list_id=campaign["name"], category="all")

    def later(self, low_days: float, high_days: float) -> None:
        self.at += timedelta(days=self.rng.uniform(low_days, high_days))
        self.campaign = None


def _product(item: tuple[str, str, str, float], quantity: int = 1) -> dict[str, Any]:
    sku, name, category, price = item
    return {
        "product_id": sku,
        "sku": sku,
        "name": name,
        "category": category,
        "price": price,
        "quantity": quantity,
    }


def _checkout(
    customer: _Customer, order_id: str, cart_id: str, product: dict[str, Any]
) -> Iterator[dict[str, Any]]:
    """The checkout of one cart: started, a step, payment."""
    total = round(product["price"] * product["quantity"], 2)
    yield customer.track(
        "Checkout Started",
        order_id=order_id,
        cart_id=cart_id,
        value=total,
        revenue=total,
        currency="EUR",
        products=[product],
    )
    yield customer.track("Checkout Step Completed", checkout_id=order_id, step=1)
    yield customer.track("Payment Info Entered", checkout_id=order_id, step=2)


def sample_calls(
    customers: int = 200, *, days: int = 30, seed: int = 7, now: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Yield Segment calls for ``customers`` customers over the last ``days`` days."""
    rng = random.Random(seed)
    end = now or datetime.now(UTC)
    for c in range(customers):
        start = end - timedelta(days=days) + timedelta(seconds=rng.uniform(0, days * 86400))
        customer = _Customer(
            prefix=f"sample-{seed}-{c}", anon=f"anon-{seed}-{c}", at=start, end=end, rng=rng
        )
        yield from _walk(customer, rng, seed, c)


def _walk(customer: _Customer, rng: random.Random, seed: int, c: int) -> Iterator[dict[str, Any]]:
    """One customer's journey through the shop, as far as they go."""
    yield from customer.landing(rng.choice(CAMPAIGNS))
    if rng.random() < 0.2:
        yield customer.track("Products Searched", query=rng.choice(["jacket", "socks", "pack"]))
    if rng.random() < 0.2:
        return  # left after the landing page
    if rng.random() < 0.65:
        customer.later(0.5, 6)  # came back to look, days later
        yield from customer.landing(rng.choice(CAMPAIGNS))
    viewed = rng.sample(PRODUCTS, rng.randint(1, 3))
    for item in viewed:
        yield customer.track("Product Viewed", **_product(item), currency="EUR")
    if rng.random() < 0.25:
        return  # only looked
    cart = f"cart-{seed}-{c}-0"
    yield customer.track("Product Added", cart_id=cart, **_product(viewed[0]))
    yield customer.track("Cart Viewed", cart_id=cart, products=[_product(viewed[0])])
    customer.user = f"customer-{c}"
    yield customer.call(
        "identify",
        traits={
            "email": f"customer-{c}@example.com",
            "first_name": rng.choice(FIRST_NAMES),
            "country": rng.choice(COUNTRIES),
        },
    )
    if rng.random() < 0.25:
        return  # abandoned the cart
    if rng.random() < 0.6:
        customer.later(0.5, 6)  # came back to buy, through a campaign
        yield from customer.landing(rng.choice(RETURN_CAMPAIGNS))
    product = _product(viewed[0], rng.randint(1, 3))
    yield from _checkout(customer, f"order-{seed}-{c}-0", cart, product)
    if rng.random() < 0.2:
        return  # abandoned the checkout
    if rng.random() < 0.6:
        customer.later(0.2, 3)  # thought it over before paying
    orders = 1 + (rng.random() < 0.35) + (rng.random() < 0.12)
    for n in range(orders):
        if n:
            item = rng.choice(PRODUCTS)
            cart = f"cart-{seed}-{c}-{n}"
            product = _product(item, rng.randint(1, 3))
            customer.later(3, 12)
            yield from customer.landing(rng.choice(RETURN_CAMPAIGNS))
            yield customer.track("Product Viewed", **_product(item), currency="EUR")
            yield customer.track("Product Added", cart_id=cart, **_product(item))
            yield from _checkout(customer, f"order-{seed}-{c}-{n}", cart, product)
        total = round(product["price"] * product["quantity"], 2)
        yield customer.track(
            "Order Completed",
            order_id=f"order-{seed}-{c}-{n}",
            checkout_id=f"order-{seed}-{c}-{n}",
            cart_id=cart,
            total=total,
            revenue=total,
            currency="EUR",
            products=[product],
        )
    if rng.random() < 0.4:
        customer.later(1, 5)
        yield customer.track(
            "Product Reviewed",
            product_id=viewed[0][0],
            review_id=f"review-{seed}-{c}",
            rating=rng.choice([3, 4, 5, 5]),
        )
    if rng.random() < 0.1:
        yield customer.track("Product Shared", product_id=viewed[0][0], share_via="email")
