"""Acceptance: after an erase, nothing of the customer can be read back from the disk.

Every file of the data dir (the SQLite store and its WAL and shared memory, the DuckDB
warehouse and its WAL, anything else) is searched as raw bytes, and every table of a
PostgreSQL store or warehouse as text, for the customer's ids, email address and a trait
value only they had. The same searches still find the other customer, so they can find.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.acceptance.test_email_journey import Shop, _links, _path, shop
from wayline.analytics.loader import WarehouseLoader
from wayline.analytics.warehouse import Warehouse
from wayline.analytics.warehouse_postgres import PostgresWarehouse
from wayline.api.app import create_app
from wayline.api.deps import Services
from wayline.ingest import Ingestor
from wayline.settings import Settings

__all__ = ["shop"]

USER = "cust-9d41aa"
ANONYMOUS = "anon-77e0c4"
EMAIL = "ann.ondisk@example.com"
TRAIT = "zaffre-7731-ann"
OTHER_USER = "cust-e52b17"
OTHER_EMAIL = "bob.stays@example.com"
OTHER_TRAIT = "heliotrope-4412-bob"


def _file_hits(data_dir: Path, needles: list[str]) -> set[tuple[str, str]]:
    """(file, needle) for every file under ``data_dir`` whose bytes hold a needle (as
    written, or in lower case)."""
    found = set()
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        data = path.read_bytes().lower()
        for needle in needles:
            if needle.lower().encode() in data:
                found.add((path.name, needle))
    return found


def _table_hits(engine: sa.Engine, needles: list[str]) -> set[tuple[str, str]]:
    """(table, needle) for every table of a PostgreSQL database whose rows, as text, hold a
    needle (binary columns appear in hex)."""
    found = set()
    with engine.connect() as conn:
        names = conn.scalars(
            sa.text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ).all()
        assert "events" in names or "inbox" in names
        for name in names:
            rows = conn.scalars(sa.text(f'SELECT CAST(t AS text) FROM "{name}" AS t')).all()
            text = "\n".join(rows).lower()
            for needle in needles:
                if needle.lower() in text or needle.lower().encode().hex() in text:
                    found.add((name, needle))
    return found


def _everywhere(shop: Shop, warehouse: Warehouse, data_dir: Path, needles: list[str]) -> set[str]:
    hits = {n for _, n in _file_hits(data_dir, needles)}
    if shop.store.dialect == "postgresql":
        hits |= {n for _, n in _table_hits(shop.store.engine, needles)}
    if isinstance(warehouse, PostgresWarehouse):
        hits |= {n for _, n in _table_hits(warehouse.engine, needles)}
    return hits


def test_after_an_erase_no_file_or_table_holds_the_customer(
    shop: Shop, warehouse: Warehouse, tmp_path: Path
) -> None:
    loader = WarehouseLoader(
        shop.store,
        warehouse,
        batch_size=100,
        clock=shop.clock,
        compact_every=timedelta(minutes=10),
    )
    ingestor = Ingestor(shop.store, shop.clock, Settings(data_dir=tmp_path))
    services = Services(
        settings=Settings(data_dir=tmp_path, public_url="http://testserver"),
        store=shop.store,
        clock=shop.clock,
        ingestor=ingestor,
        eraser=loader,
    )
    client = TestClient(create_app(services))
    shop.send({"type": "page", "anonymousId": ANONYMOUS, "name": "Home"})
    shop.send(
        {
            "type": "identify",
            "userId": USER,
            "anonymousId": ANONYMOUS,
            "traits": {"email": EMAIL, "first_name": "Ann", "colour": TRAIT},
        }
    )
    shop.send(
        {
            "type": "identify",
            "userId": OTHER_USER,
            "traits": {"email": OTHER_EMAIL, "colour": OTHER_TRAIT},
        }
    )
    shop.send(
        {
            "type": "track",
            "userId": USER,
            "event": "Product Added",
            "properties": {"cart_id": "c1", "price": 30, "note": TRAIT},
        }
    )
    # rejected items of both, kept with their payloads
    ingestor.batch(
        shop.workspace,
        {
            "batch": [
                {"type": "track", "messageId": "bad-1", "userId": USER, "properties": {"x": TRAIT}},
                {"type": "track", "messageId": "bad-2", "userId": OTHER_USER},
                {"type": "page", "messageId": "good-1", "userId": OTHER_USER, "name": "Cart"},
            ]
        },
    )
    shop.machine.advance(minutes=61)
    (mail,) = shop.mailbox.received()
    part = mail.get_body(preferencelist=("html",))
    assert part is not None
    html = part.get_content()
    click = next(u for u in _links(html) if "/t/click/" in u)
    pixel = re.search(r'<img src="([^"]+/t/open/[^"]+)"', html)
    assert pixel is not None
    assert client.get(_path(click), follow_redirects=False).status_code == 302
    assert client.get(_path(pixel.group(1))).status_code == 200
    shop.machine.settle()
    loader.drain()
    profile_id = shop.profile_id(USER)
    needles = [USER, ANONYMOUS, EMAIL, TRAIT, profile_id]
    others = [OTHER_USER, OTHER_EMAIL, OTHER_TRAIT]
    assert _everywhere(shop, warehouse, tmp_path, needles) == set(needles)

    r = client.delete(f"/api/v1/profiles/{USER}", headers=shop.admin)
    assert r.status_code == 200, r.text
    assert r.json()["deleted"]["rejections"] == 1
    loader.step()  # the loader's next round compacts the warehouse

    assert _everywhere(shop, warehouse, tmp_path, needles) == set()
    assert _everywhere(shop, warehouse, tmp_path, others) == set(others)
    if not isinstance(warehouse, PostgresWarehouse):
        # the DuckDB file on its own: still holds the other customer, readably
        assert {f for f, _ in _file_hits(tmp_path, others)} >= {"warehouse.duckdb"}
    assert client.get(f"/api/v1/profiles/{OTHER_USER}", headers=shop.admin).status_code == 200
