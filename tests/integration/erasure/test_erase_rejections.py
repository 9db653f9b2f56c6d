"""An erase removes the rejected items that carried the customer's ids (the payloads that
``GET /api/v1/rejections`` lists and the table keeps), and only theirs."""

from __future__ import annotations

from pathlib import Path

import orjson
import sqlalchemy as sa

from wayline.ingest import Ingestor
from wayline.settings import Settings
from wayline.store import Store, open_store, schema
from wayline.store.migrations import upgrade
from wayline.store.sql import SqlStore
from wayline.testing import ManualClock, drain_profiles


def _payloads(store: SqlStore) -> list[str]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(schema.rejections.c.payload)).scalars().all()
    return [bytes(p).decode() for p in rows]


def test_erase_deletes_the_rejected_items_that_carry_the_customers_ids(
    store: Store, clock: ManualClock
) -> None:
    assert isinstance(store, SqlStore)
    ws = store.create_workspace("shop").workspace.id
    ingestor = Ingestor(store, clock, Settings(data_dir=Path(".")))
    ingestor.batch(
        ws,
        {
            "batch": [
                {
                    "type": "identify",
                    "messageId": "m1",
                    "userId": "ann-1",
                    "anonymousId": "anon-ann",
                    "traits": {"email": "Ann@Example.com"},
                },
                {"type": "identify", "messageId": "m2", "userId": "bob-2"},
                # rejected: each names Ann by one id only
                {"type": "track", "messageId": "r1", "userId": "ann-1"},
                {"type": "track", "messageId": "r2", "anonymousId": "anon-ann", "event": 7},
                {
                    "type": "track",
                    "messageId": "r3",
                    "event": "Signed Up",
                    "timestamp": "not a time",
                    "context": {"traits": {"email": "ANN@example.com"}},
                },
                {"type": "track", "messageId": "r4", "userId": "bob-2"},
            ]
        },
    )
    drain_profiles(store)
    assert len(store.rejections(ws)) == 4
    view = store.find_profile(ws, "ann-1")
    assert view is not None

    report = store.erase_profile(ws, view.profile.id)

    assert report.rejections == 3
    assert [r["message_id"] for r in store.rejections(ws)] == ["r4"]
    left = _payloads(store)
    assert len(left) == 1
    assert "bob-2" in left[0]
    assert "ann" not in left[0].lower()


def test_the_migration_reads_the_ids_of_rejections_kept_before_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    store = open_store(Settings(database_url=url))
    assert isinstance(store, SqlStore)
    try:
        with store.engine.begin() as conn:
            upgrade(conn, "0011")
            conn.execute(
                sa.text(
                    "INSERT INTO rejections (workspace_id, received_at, source, field, error,"
                    " payload) VALUES ('w', '2026-01-01 00:00:00', 'api', 'event', 'bad', :p)"
                ),
                {"p": orjson.dumps({"userId": "u9", "traits": {"email": "Zed@X.org"}})},
            )
        store.migrate()
        with store.engine.connect() as conn:
            row = conn.execute(sa.select(schema.rejections)).one()
        assert (row.user_id, row.anonymous_id, row.email) == ("u9", None, "zed@x.org")
    finally:
        store.close()
