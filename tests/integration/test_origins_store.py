"""A workspace's allowed origins in the state store, on SQLite and PostgreSQL."""

from __future__ import annotations

from wayline.store import Store
from wayline.store.origins import OriginsStore
from wayline.store.sql import SqlStore


def test_add_remove_replace_per_workspace(store: Store) -> None:
    assert isinstance(store, SqlStore)
    origins = OriginsStore(store)
    shop = store.create_workspace("shop").workspace.id
    other = store.create_workspace("other").workspace.id
    assert origins.allowed(shop) == []
    assert origins.add(shop, "https://shop.example.com") is True
    assert origins.add(shop, "https://shop.example.com") is False
    assert origins.add(shop, "http://localhost:3000") is True
    assert origins.allowed(shop) == ["http://localhost:3000", "https://shop.example.com"]
    assert origins.allowed(other) == []
    assert origins.remove(shop, "http://localhost:3000") is True
    assert origins.remove(shop, "http://localhost:3000") is False
    assert origins.replace(
        other, ["https://b.example", "https://a.example", "https://a.example"]
    ) == [
        "https://a.example",
        "https://b.example",
    ]
    assert origins.allowed(shop) == ["https://shop.example.com"]
    assert origins.replace(shop, []) == []
    assert origins.allowed(shop) == []
    assert origins.allowed(other) == ["https://a.example", "https://b.example"]
