"""PostgreSQL: consumers never pass over a row whose transaction commits late, and are not
held up by transactions that do not write the inbox."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from tests.polling import wait_until
from wayline.events import parse_message
from wayline.store import Store
from wayline.store.base import Cursor
from wayline.store.postgres import PostgresStore, normalise_url

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

NOW = datetime(2026, 5, 1, tzinfo=UTC)


def _event(message_id: str) -> object:
    return parse_message(
        {"type": "track", "userId": "u", "event": "E", "messageId": message_id}, received_at=NOW
    )


def _ids(store: Store) -> list[str]:
    return [e.message_id for e in store.read_inbox(Cursor(), 100)]


def _eventually(store: Store, want: list[str]) -> list[str]:
    wait_until(lambda: _ids(store) == want, what=f"the inbox to read {want}")
    return _ids(store)


def test_an_open_older_writer_holds_consumers_back(store: Store, database_url: str) -> None:
    assert isinstance(store, PostgresStore)
    ws = store.create_workspace("a").workspace.id
    other = sa.create_engine(normalise_url(database_url), poolclass=sa.NullPool)
    with other.connect() as slow:
        slow.begin()
        slow.execute(
            sa.text(
                "INSERT INTO inbox (workspace_id, message_id, type, user_id, timestamp,"
                " received_at, payload, txid) VALUES (:ws, 'slow', 'track', 'u', now(), now(),"
                " '\\x7b7d', txid_current())"
            ),
            {"ws": ws},
        )
        store.append_events(ws, [_event("fast")])  # type: ignore[list-item]
        time.sleep(0.2)
        # "fast" committed, but "slow" (an older transaction) may still commit before it
        assert _ids(store) == []
        slow.commit()
    assert _eventually(store, ["slow", "fast"]) == ["slow", "fast"]


def test_other_open_transactions_do_not_hold_consumers_back(
    store: Store, database_url: str
) -> None:
    ws = store.create_workspace("a").workspace.id
    other = sa.create_engine(normalise_url(database_url), poolclass=sa.NullPool)
    with other.connect() as busy:
        busy.begin()
        busy.execute(sa.text("INSERT INTO counters VALUES ('x', 'y', 1)"))  # takes an xid
        store.append_events(ws, [_event("m1")])  # type: ignore[list-item]
        assert _eventually(store, ["m1"]) == ["m1"]
        busy.rollback()
