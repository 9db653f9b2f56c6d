"""Acceptance: export then erase a customer who has events, a journey trace, messages,
opens and clicks, and subscriptions. The export holds every kind of data; afterwards no
table of the state store and no warehouse row holds their ids or email address, and a
later email to that address is suppressed.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.acceptance.test_email_journey import Shop, _links, _path, shop
from wayline.analytics.loader import WarehouseLoader
from wayline.analytics.warehouse import Warehouse, open_warehouse
from wayline.api.app import create_app
from wayline.api.deps import Services
from wayline.ingest import Ingestor
from wayline.settings import Settings
from wayline.store.sql import SqlStore

__all__ = ["shop"]

USER = "cust-7f3c9e"
ANONYMOUS = "anon-5521d0"
EMAIL = "ann.erasure@example.com"
OTHER_USER = "cust-b0b123"
OTHER_EMAIL = "bob.keeps@example.com"


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    url = f"duckdb:///{tmp_path / 'warehouse' / 'warehouse.duckdb'}"
    found = open_warehouse(Settings(data_dir=tmp_path, warehouse_url=url))
    yield found
    found.close()


def _state_store_hits(store: SqlStore, needles: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, needle) for every text or binary value of every table that holds a
    needle, across every table the database has (not only those Wayline knows)."""
    found = []
    names = sa.inspect(store.engine).get_table_names()
    assert {"inbox", "outbox", "suppressions"} <= set(names)
    meta = sa.MetaData()
    meta.reflect(store.engine)
    with store.engine.connect() as conn:
        for name in names:
            table = meta.tables[name]
            for row in conn.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    if isinstance(value, bytes | memoryview):
                        text = bytes(value).decode("utf-8", "replace")
                    elif isinstance(value, str):
                        text = value
                    else:
                        continue
                    for needle in needles:
                        if needle.lower() in text.lower():
                            found.append((name, str(column), needle))
    return found


def _warehouse_hits(warehouse: Warehouse, needles: list[str]) -> list[str]:
    rows = warehouse.execute(warehouse.table("events")).to_pylist()
    assert rows, "the warehouse holds the other customer's events"
    return [n for row in rows for n in needles if n.lower() in repr(row).lower()]


def test_export_then_erase_leaves_nothing_and_keeps_the_address_suppressed(
    shop: Shop, warehouse: Warehouse
) -> None:
    loader = WarehouseLoader(shop.store, warehouse, batch_size=100)
    services = Services(
        settings=Settings(data_dir=Path("."), public_url="http://testserver"),
        store=shop.store,
        clock=shop.clock,
        ingestor=Ingestor(shop.store, shop.clock, Settings(data_dir=Path("."))),
        eraser=loader,
    )
    client = TestClient(create_app(services))
    admin = shop.admin

    shop.send({"type": "page", "anonymousId": ANONYMOUS, "name": "Home"})
    shop.send(
        {
            "type": "identify",
            "userId": USER,
            "anonymousId": ANONYMOUS,
            "traits": {"email": EMAIL, "first_name": "Ann"},
        }
    )
    shop.send({"type": "identify", "userId": OTHER_USER, "traits": {"email": OTHER_EMAIL}})
    shop.send(
        {
            "type": "track",
            "userId": USER,
            "event": "Product Added",
            "properties": {"cart_id": "c1", "price": 30},
        }
    )
    shop.machine.advance(minutes=61)
    (mail,) = shop.mailbox.received()
    assert mail["To"] == EMAIL
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    html = part.get_content()
    click = next(u for u in _links(html) if "/t/click/" in u)
    pixel = re.search(r'<img src="([^"]+/t/open/[^"]+)"', html)
    assert pixel is not None
    assert client.get(_path(click), follow_redirects=False).status_code == 302
    assert client.get(_path(pixel.group(1))).status_code == 200
    r = client.put(
        f"/api/v1/profiles/{USER}/subscriptions",
        json={"channel": "sms", "topic": "offers", "status": "unsubscribed"},
        headers=admin,
    )
    assert r.status_code == 200, r.text
    shop.machine.settle()
    loader.drain()
    profile_id = shop.profile_id(USER)

    # -- export -------------------------------------------------------------------------
    r = client.get(f"/api/v1/profiles/{EMAIL}/export", headers=admin)
    assert r.status_code == 200, r.text
    export: dict[str, Any] = r.json()
    assert export["profile"]["id"] == profile_id
    assert export["profile"]["traits"]["email"] == EMAIL
    assert {(i["kind"], i["value"]) for i in export["identities"]} >= {
        ("user_id", USER),
        ("anonymous_id", ANONYMOUS),
        ("email", EMAIL),
    }
    names = [e.get("event") or e["type"] for e in export["events"]]
    for expected in (
        "page",
        "identify",
        "Product Added",
        "Message Sent",
        "Email Link Clicked",
        "Email Opened",
    ):
        assert expected in names, names
    emails = [m for m in export["messages"] if m["channel"] == "email"]
    assert len(emails) == 1
    assert [h["status"] for h in emails[0]["history"]] == ["queued", "sent", "clicked", "opened"]
    assert emails[0]["content"]["result"]["to"] == EMAIL
    assert any(m["channel"] == "webhook" for m in export["messages"])
    (journey,) = export["journeys"]
    assert journey["journey_id"] == "abandoned-cart"
    assert journey["context"]
    assert {"entered", "queued"} <= {s["kind"] for s in journey["trace"]}
    assert journey["enrolment"]["entries"] == 1
    assert export["subscriptions"] == [
        {
            "channel": "sms",
            "topic": "offers",
            "status": "unsubscribed",
            "source": "api",
            "updated_at": export["subscriptions"][0]["updated_at"],
        }
    ]
    assert export["suppressions"] == []

    needles = [USER, ANONYMOUS, EMAIL, profile_id]
    assert _state_store_hits(shop.store, needles), "the scan finds the customer before erasure"
    assert _warehouse_hits(warehouse, needles)

    # -- erase --------------------------------------------------------------------------
    r = client.delete(f"/api/v1/profiles/{USER}", headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["warehouse"] == "erased"

    assert _state_store_hits(shop.store, needles) == []
    assert _warehouse_hits(warehouse, needles) == []
    # the scans do find what is still there: the other customer
    assert {n for *_, n in _state_store_hits(shop.store, [OTHER_USER, OTHER_EMAIL])} == {
        OTHER_USER,
        OTHER_EMAIL,
    }
    assert set(_warehouse_hits(warehouse, [OTHER_USER])) == {OTHER_USER}
    assert client.get(f"/api/v1/profiles/{USER}/export", headers=admin).status_code == 404
    listed = client.get("/api/v1/suppressions", headers=admin).json()["data"]
    assert [(s["channel"], s["address"], s["reason"]) for s in listed] == [
        ("email", None, "erased")
    ]

    # -- a later email to that address is suppressed -----------------------------------
    shop.send({"type": "identify", "userId": "cust-new", "traits": {"email": EMAIL.upper()}})
    shop.send(
        {
            "type": "track",
            "userId": "cust-new",
            "event": "Product Added",
            "properties": {"cart_id": "c9", "price": 30},
        }
    )
    shop.machine.advance(minutes=61)
    assert len(shop.mailbox.received()) == 1
    steps = [
        (s.node, s.kind, s.reason)
        for s in _trace(shop, "cust-new")
        if s.kind == "dropped" and s.node == "reminder"
    ]
    assert len(steps) == 1
    assert "suppressed" in steps[0][2]
    messages = client.get("/api/v1/profiles/cust-new/messages", headers=admin).json()["data"]
    (email,) = [m for m in messages if m["channel"] == "email"]
    assert email["state"] == "dropped"
    assert "suppressed" in (email["last_error"] or "")


def _trace(shop: Shop, user: str) -> list[Any]:
    from wayline.store.journeys import JourneyStore

    return JourneyStore(shop.store).steps(shop.workspace, "abandoned-cart", shop.profile_id(user))


def test_erase_takes_the_customer_id_out_of_a_scheduled_runs_cursor(shop: Shop) -> None:
    from datetime import UTC, datetime

    from wayline.store import schema

    for user in ("u1", "u2", "u3"):
        shop.send({"type": "identify", "userId": user, "traits": {"plan": "pro"}})
    ids = sorted(shop.profile_id(u) for u in ("u1", "u2", "u3"))
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with shop.store._write() as conn:
        conn.execute(
            sa.insert(schema.journey_schedule_runs),
            [
                {
                    "workspace_id": shop.workspace,
                    "journey_id": "weekly",
                    "occurrence": f"2026-01-0{n}T00:00:00+00:00",
                    "version": 1,
                    "state": "running",
                    "cursor": cursor,
                    "entered": 1,
                    "refused": 0,
                    "started_at": now,
                }
                for n, cursor in ((1, ids[1]), (2, ids[0]))
            ],
        )

    def cursors() -> list[str]:
        t = schema.journey_schedule_runs
        with shop.store.engine.connect() as conn:
            return list(conn.execute(sa.select(t.c.cursor).order_by(t.c.occurrence)).scalars())

    shop.store.erase_profile(shop.workspace, ids[1])
    # the run that stood at the erased customer stands at the one before: the same place
    assert cursors() == [ids[0], ids[0]]
    shop.store.erase_profile(shop.workspace, ids[0])
    assert cursors() == ["", ""]
    assert ids[2] not in cursors()
